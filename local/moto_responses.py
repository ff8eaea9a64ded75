"""moto's DynamoDB item operations answered with ``json.dumps`` instead of its generic response serializer.

moto 5 serializes every answer by walking botocore's output shape, value by value (``moto/core/serialize.py``): on the
gateway's chat path that was 14% of the local DynamoDB server's CPU, more than the update itself. The item operations'
results are already in DynamoDB's wire format (attribute values as ``{"S": ...}`` maps, counts, capacity), so the same
JSON comes out of ``json.dumps`` with the output shape's top-level members kept and binary values base64-encoded, as
the serializer does. The streams' GetRecords the same way (the rollup job reads up to 1,000 records a call: moto's
serializer spent seconds on one, holding the interpreter while chat requests waited). Errors and every other
operation still go through moto's serializer.
``tests/unit/test_moto_responses.py`` checks, operation by operation, that both give the same JSON. moto's lookup of
the handler method is made once per class (``_method_names_once``), and a request body without binary values or
nulls is parsed with ``json.loads`` (``parse_directly``; the same test compares it with moto's parser).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from functools import cache
from typing import Any

FAST_OPERATIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems",
})
FAST = {"dynamodb": FAST_OPERATIONS, "dynamodbstreams": frozenset({"GetRecords"})}  # service -> its fast operations
CONTENT_TYPE = "application/x-amz-json-1.0"  # DynamoDB's JSON protocol version
_installed = False
original: Any = None  # moto's own DynamoHandler.serialized, once installed
original_streams: Any = None  # moto's own DynamoDBStreamsHandler.serialized, once installed


def _wire(value: Any) -> Any:
    """What moto's serializer makes of the values json cannot write: binary as base64 text, a time (a stream record's
    ApproximateCreationDateTime) as epoch seconds by moto's own function."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        from moto.core.serialize import TimestampSerializer, parse_to_aware_datetime

        return TimestampSerializer._timestamp_unixtimestamp(parse_to_aware_datetime(value))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@cache
def _members(service: str, operation: str) -> frozenset[str]:
    from moto.core.responses import get_service_model

    shape = get_service_model(service).operation_model(operation).output_shape
    return frozenset(shape.members) if shape is not None else frozenset()


def body(operation: str, result: dict[str, Any], service: str = "dynamodb") -> str:
    """The JSON body moto's serializer gives for an item operation's (or a stream read's) result."""
    members = _members(service, operation)
    return json.dumps({k: v for k, v in result.items() if k in members and v is not None}, default=_wire,
                      separators=(",", ":"))


def fast(handler: Any, action_result: Any) -> tuple[int, dict[str, Any], str] | None:
    """(status, headers, body) of an item operation's or a stream read's successful result, or None (moto's serializer
    answers)."""
    result = action_result.result
    if type(action_result).__name__ not in ("DynamoResult", "ActionResult") or not isinstance(result, dict):
        return None
    operation, service = handler._get_action(), handler.service_name
    if operation not in FAST.get(service, ()):
        return None
    headers = {"Content-Type": CONTENT_TYPE}
    headers.update(handler.response_headers)
    return 200, headers, body(operation, result, service)


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
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    global original_streams
    original = DynamoHandler.serialized
    original_streams = DynamoDBStreamsHandler.serialized

    def serialized(self: Any, action_result: Any) -> Any:
        return fast(self, action_result) or original(self, action_result)

    def stream_serialized(self: Any, action_result: Any) -> Any:
        return fast(self, action_result) or original_streams(self, action_result)

    DynamoHandler.serialized = serialized  # type: ignore[method-assign]
    DynamoDBStreamsHandler.serialized = stream_serialized  # type: ignore[method-assign]
    _installed = True
