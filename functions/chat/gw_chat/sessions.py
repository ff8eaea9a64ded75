"""Chat history storage (ChatSessionsTable): ``user_id`` + ``sk``.

``s#<session id>`` is a session (name, description, message_count, timestamps); ``m#<session id>#<message id:08d>``
is one message. Everything of a user is in one partition, so a user can only ever reach their own sessions.
Message ids are allocated by an atomic ``ADD message_count``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from botocore.exceptions import ClientError

from gateway_common import db
from gateway_common.errors import NotFound
from gateway_common.parallel import Step
from gateway_common.timeutil import iso_now

SESSIONS = "ChatSessionsTable"
MAX_CONTENT = 100_000


def _sk(session_id: int) -> str:
    return f"s#{session_id}"


def _msg_prefix(session_id: int) -> str:
    return f"m#{session_id}#"


def not_found(session_id: int) -> NotFound:
    return NotFound(f"Chat session {session_id} does not exist (or is not yours): GET /chat/sessions lists yours")


def create(user_id: str, name: str, description: str | None) -> dict[str, Any]:
    now = iso_now()
    session_id = int(time.time() * 1000) * 1000 + secrets.randbelow(1000)
    item = {"user_id": user_id, "sk": _sk(session_id), "id": session_id, "name": name, "message_count": 0,
            "created_at": now, "updated_at": now}
    if description:
        item["description"] = description
    db.table(SESSIONS).put_item(Item=item, ConditionExpression="attribute_not_exists(sk)")
    return item


def get(user_id: str, session_id: int) -> dict[str, Any]:
    item = db.table(SESSIONS).get_item(Key={"user_id": user_id, "sk": _sk(session_id)}, ConsistentRead=True).get("Item")
    if item is None:
        raise not_found(session_id)
    return item


def ownership_step(user_id: str, session_id: int) -> Step:
    """A read in the admission round trip: the session must exist in the caller's partition."""
    return Step(run=lambda: get(user_id, session_id), undo=lambda _: None)


def list_sessions(user_id: str, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    items = list(db.query_items(
        SESSIONS, KeyConditionExpression="user_id = :u AND begins_with(sk, :p)",
        ExpressionAttributeValues={":u": user_id, ":p": "s#"}, ScanIndexForward=False,
    ))
    items.sort(key=lambda i: i["updated_at"], reverse=True)
    return items[offset: offset + limit], len(items)


def messages(user_id: str, session_id: int) -> list[dict[str, Any]]:
    return list(db.query_items(
        SESSIONS, KeyConditionExpression="user_id = :u AND begins_with(sk, :p)",
        ExpressionAttributeValues={":u": user_id, ":p": _msg_prefix(session_id)},
    ))


def delete(user_id: str, session_id: int) -> None:
    try:
        db.table(SESSIONS).delete_item(Key={"user_id": user_id, "sk": _sk(session_id)},
                                       ConditionExpression="attribute_exists(sk)")
    except ClientError as exc:
        if db.is_conditional_failure(exc):
            raise not_found(session_id) from None
        raise
    with db.table(SESSIONS).batch_writer() as batch:
        for item in messages(user_id, session_id):
            batch.delete_item(Key={"user_id": user_id, "sk": item["sk"]})


def append(user_id: str, session_id: int, new_messages: list[dict[str, Any]]) -> None:
    """Append messages ({role, content, model?}); a session deleted meanwhile gets nothing."""
    if not new_messages:
        return
    now = iso_now()
    try:
        out = db.table(SESSIONS).update_item(
            Key={"user_id": user_id, "sk": _sk(session_id)},
            UpdateExpression="ADD message_count :n SET updated_at = :now",
            ConditionExpression="attribute_exists(sk)",
            ExpressionAttributeValues={":n": len(new_messages), ":now": now},
            ReturnValues="UPDATED_NEW",
        )
    except ClientError as exc:
        if db.is_conditional_failure(exc):
            return
        raise
    last = int(out["Attributes"]["message_count"])
    first = last - len(new_messages) + 1
    with db.table(SESSIONS).batch_writer() as batch:
        for offset, message in enumerate(new_messages):
            message_id = first + offset
            item = {"user_id": user_id, "sk": f"{_msg_prefix(session_id)}{message_id:08d}", "id": message_id,
                    "role": message["role"], "content": str(message.get("content") or "")[:MAX_CONTENT], "created_at": now}
            if message.get("model"):
                item["model"] = message["model"]
            batch.put_item(Item=item)
