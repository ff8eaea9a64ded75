"""Stored Responses API objects (ResponsesTable: ``user_id`` + ``response_id``, TTL ``expires_at``).

A stored item holds the Response object as returned and the conversation that produced it as chat messages (input
and output), so ``previous_response_id`` continues it without re-reading a chain. Keyed by the owner: a user can only
ever read or delete their own responses; anyone else's id is a 404, as an unknown one. Items are kept
``RETENTION_SECONDS`` (30 days, as OpenAI keeps them); an item past its expiry is not served even before DynamoDB's
TTL sweep removes it.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

from gateway_common import db
from gateway_common.errors import BadRequest, NotFound
from gateway_common.observability import logger
from gateway_common.timeutil import now_ts

RESPONSES = "ResponsesTable"
RETENTION_SECONDS = 30 * 86400
MAX_ITEM_BYTES = 350_000  # DynamoDB's item limit is 400 KB
ID_PATTERN = re.compile(r"resp_[A-Za-z0-9_-]{1,100}")


def not_found(response_id: str) -> NotFound:
    return NotFound(f"No response with id '{response_id[:100]}' (it may be another account's, deleted or expired)",
                    code="response_not_found", param="response_id")


def save(user_id: str, response: dict[str, Any], messages: list[dict[str, Any]],
         input_items: list[dict[str, Any]] | None = None) -> bool:
    """Store a response and its conversation (zlib-compressed: a conversation continued by previous_response_id
    grows with every turn, and text shrinks several times, so long agent loops still fit one item); False when it
    is too large to store even so (it is still returned, and logged)."""
    data = json.dumps(response, separators=(",", ":"))
    conversation = zlib.compress(json.dumps(messages, separators=(",", ":")).encode())
    inputs = zlib.compress(json.dumps(input_items or [], separators=(",", ":")).encode())
    size = len(data) + len(conversation) + len(inputs)
    if size > MAX_ITEM_BYTES:
        logger.warning("response too large to store", extra={"response_id": response["id"], "bytes": size})
        return False
    db.table(RESPONSES).put_item(Item={"user_id": user_id, "response_id": response["id"], "data": data,
                                       "messages_z": conversation, "input_z": inputs,
                                       "expires_at": int(now_ts()) + RETENTION_SECONDS})
    return True


def input_items(user_id: str, response_id: str) -> list[dict[str, Any]]:
    """The input items a stored response of this user was made from (a 404 as ``get``)."""
    item = _item(user_id, response_id)
    if item is None:
        raise not_found(response_id)
    return json.loads(zlib.decompress(bytes(item["input_z"]))) if "input_z" in item else []  # type: ignore[no-any-return]


def _is_id(response_id: str) -> bool:
    """Ours look like resp_<24 hex>; anything else (a 2 KB path, odd characters) is unknown without asking DynamoDB,
    whose sort keys stop at 1 KB (a ValidationException there would be a 500)."""
    return bool(ID_PATTERN.fullmatch(response_id))


def _item(user_id: str, response_id: str) -> dict[str, Any] | None:
    if not _is_id(response_id):
        return None
    item = db.table(RESPONSES).get_item(Key={"user_id": user_id, "response_id": response_id}).get("Item")
    if item is None or int(item.get("expires_at", 0)) <= int(now_ts()):
        return None
    return item


def get(user_id: str, response_id: str) -> dict[str, Any]:
    item = _item(user_id, response_id)
    if item is None:
        raise not_found(response_id)
    return json.loads(item["data"])  # type: ignore[no-any-return]


def conversation(user_id: str, response_id: str) -> list[dict[str, Any]]:
    """The chat messages of a stored response (its input and output), to continue it."""
    item = _item(user_id, response_id)
    if item is None:
        raise BadRequest(f"Previous response with id '{response_id}' not found (responses are stored with store=true, "
                         "for 30 days, and only for their owner)", code="previous_response_not_found",
                         param="previous_response_id")
    if "messages_z" in item:
        return json.loads(zlib.decompress(bytes(item["messages_z"])))  # type: ignore[no-any-return]
    return json.loads(item["messages"])  # type: ignore[no-any-return]  (stored before compression)


def delete(user_id: str, response_id: str) -> None:
    if not _is_id(response_id):
        raise not_found(response_id)
    try:
        db.table(RESPONSES).delete_item(Key={"user_id": user_id, "response_id": response_id},
                                        ConditionExpression="attribute_exists(response_id)")
    except Exception as exc:
        if db.is_conditional_failure(exc):
            raise not_found(response_id) from None
        raise
