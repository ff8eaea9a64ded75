"""moto's DynamoDB item operations answered with ``json.dumps`` instead of its generic response serializer.

moto 5 serializes every answer by walking botocore's output shape, value by value (``moto/core/serialize.py``): on the
gateway's chat path that was 14% of the local DynamoDB server's CPU, more than the update itself. The item operations'
results are already in DynamoDB's wire format (attribute values as ``{"S": ...}`` maps, counts, capacity), so the same
JSON comes out of ``json.dumps`` with the output shape's top-level members kept and binary values base64-encoded, as
the serializer does. Errors and every other operation still go through moto's serializer.
``tests/unit/test_moto_responses.py`` checks, operation by operation, that both give the same JSON. moto's lookup of
the handler method is made once per class (``_method_names_once``), and a request body without binary values or
nulls is parsed with ``json.loads`` (``parse_directly``; the same test compares it with moto's parser).
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

FAST_OPERATIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems",
})
CONTENT_TYPE = "application/x-amz-json-1.0"  # DynamoDB's JSON protocol version
_installed = False
original: Any = None  # moto's own DynamoHandler.serialized, once installed


def _blob(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@cache
def _members(operation: str) -> frozenset[str]:
    from moto.core.responses import get_service_model

    shape = get_service_model("dynamodb").operation_model(operation).output_shape
    return frozenset(shape.members) if shape is not None else frozenset()


def body(operation: str, result: dict[str, Any]) -> str:
    """The JSON body moto's serializer gives for an item operation's result."""
    members = _members(operation)
    return json.dumps({k: v for k, v in result.items() if k in members and v is not None}, default=_blob,
                      separators=(",", ":"))


def fast(handler: Any, action_result: Any) -> tuple[int, dict[str, Any], str] | None:
    """(status, headers, body) of an item operation's successful result, or None (moto's serializer answers)."""
    result = action_result.result
    if type(action_result).__name__ not in ("DynamoResult", "ActionResult") or not isinstance(result, dict):
        return None
    operation = handler._get_action()
    if operation not in FAST_OPERATIONS:
        return None
    headers = {"Content-Type": CONTENT_TYPE}
    headers.update(handler.response_headers)
    return 200, headers, body(operation, result)


def _method_names_once() -> None:
    """moto finds a call's handler method by listing the handler class's functions (``inspect.getmembers``) on every
    call: 3% of the local DynamoDB server's CPU. The list is the class's, so it is made once per class (after
    ``moto_atomic`` has wrapped the methods it wraps: wrapping keeps them functions, under the same names)."""
    from moto.core import responses

    listed = cache(responses.method_names_from_class)
    responses.method_names_from_class = lambda clazz: listed(clazz)


_BLOBS_OR_NULLS = (b'"B"', b'"BS"', b"null")
original_parse: Any = None  # moto's own DynamoHandler.parse_parameters, once installed


def parse_directly(body: bytes) -> dict[str, Any] | None:
    """A DynamoDB request's parameters as moto's shape-walking parser gives them, for bodies that hold no binary value
    and no null: then the walk changes nothing json.loads gives (it base64-decodes "B" and "BS" values, and drops
    null members). None: moto's parser decides."""
    if not body or any(marker in body for marker in _BLOBS_OR_NULLS):
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _parameters_directly() -> None:
    """moto parses every request body by walking botocore's input shape value by value (5% of the local DynamoDB
    server's CPU per call), to turn base64 text into bytes where the shape says blob; most bodies have no blob."""
    global original_parse
    from moto.dynamodb.responses import DynamoHandler

    original_parse = DynamoHandler.parse_parameters

    def parse_parameters(self: Any, request: Any) -> None:
        parsed = parse_directly(request.data)
        if parsed is None:
            original_parse(self, request)
        else:
            self.params = parsed

    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]


def install() -> None:
    global _installed, original
    if _installed:
        return
    from moto.dynamodb.responses import DynamoHandler

    _method_names_once()
    _parameters_directly()
    original = DynamoHandler.serialized

    def serialized(self: Any, action_result: Any) -> Any:
        return fast(self, action_result) or original(self, action_result)

    DynamoHandler.serialized = serialized  # type: ignore[method-assign]
    _installed = True
