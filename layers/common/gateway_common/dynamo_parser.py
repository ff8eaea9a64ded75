"""DynamoDB's answers parsed with ``json.loads`` alone where botocore's walk over the output shape would change nothing.

botocore parses every JSON answer twice over: ``json.loads``, then a walk of the whole result against the operation's
output shape, which only converts blobs (base64) and timestamps, drops null members, and leaves every other value as
``json.loads`` gave it. An item call's answer is a tree of AttributeValue maps (an admission's ``ALL_NEW`` account item
holds some forty), so the walk was about a third of botocore's CPU per call, and three of these calls make a chat
completion. The walk is skipped only when it provably changes nothing:

- the output shape (checked once per shape) reaches no timestamp, no renamed member, no event stream and no document,
  and its only blobs are AttributeValue's ``B`` and ``BS`` (the item operations: GetItem, UpdateItem, Query, ...);
- the body holds neither ``"B"``/``"BS"`` (a binary value) nor ``null`` anywhere (a string or an attribute name that
  contains them only sends that answer the long way).

Errors (status >= 300) and every other answer go through botocore's own parser. ``tests/unit/test_dynamo_parser.py``
compares both on the answers of the calls the gateway makes.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from botocore.parsers import JSONParser, ResponseParserFactory

_BINARY_MEMBERS = frozenset({"B", "BS"})  # AttributeValue's blob members
_MARKERS = (b'"B"', b'"BS"', b"null")


def plain_json(shape: Any, _seen: set[str] | None = None) -> bool:
    """True when botocore's walk over ``shape`` leaves a ``json.loads`` result as it is (apart from AttributeValue
    blobs, which the body check catches)."""
    seen = set() if _seen is None else _seen
    if shape.name in seen:
        return True
    seen.add(shape.name)
    kind = shape.type_name
    if kind in ("timestamp", "blob") or getattr(shape, "is_document_type", False):
        return False
    if kind == "structure":
        if shape.event_stream_name or shape.serialization.get("eventstream"):
            return False
        for name, member in shape.members.items():
            if member.serialization.get("name", name) != name:
                return False
            if name in _BINARY_MEMBERS and member.type_name in ("blob", "list") and shape.name == "AttributeValue":
                continue
            if not plain_json(member, seen):
                return False
        return True
    if kind == "list":
        return plain_json(shape.member, seen)
    if kind == "map":
        return plain_json(shape.key, seen) and plain_json(shape.value, seen)
    return True


class ItemJSONParser(JSONParser):
    """botocore's JSON parser, with the walk skipped where ``plain_json`` says it changes nothing."""

    _plain: ClassVar[dict[str, bool]] = {}  # output shape name -> plain_json (shapes are per service model: one per process)

    def _do_parse(self, response: dict[str, Any], shape: Any) -> dict[str, Any]:
        body = response["body"]
        if shape is None or not self._is_plain(shape) or any(marker in body for marker in _MARKERS):
            return super()._do_parse(response, shape)
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            return super()._do_parse(response, shape)
        if not isinstance(parsed, dict):
            return super()._do_parse(response, shape)
        self._inject_response_metadata(parsed, response["headers"])
        return parsed

    def _is_plain(self, shape: Any) -> bool:
        plain = self._plain.get(shape.name)
        if plain is None:
            plain = self._plain[shape.name] = plain_json(shape)
        return plain


class ItemParserFactory(ResponseParserFactory):
    """The factory a botocore session hands its clients (``register_component('response_parser_factory', ...)``)."""

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return ItemJSONParser(**self._defaults)
        return super().create_parser(protocol_name)
