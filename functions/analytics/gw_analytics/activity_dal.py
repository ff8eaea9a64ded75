"""ActivityTable access: one item per logged event (user_id + ``<timestamp>#<id>``, index by user and event type).

``event_data`` and ``metadata`` are stored as JSON text, not as DynamoDB maps: a client's free-form JSON can hold what
a map cannot (empty keys, numbers beyond DynamoDB's 38 digits or 1e-130..1e126), and a stored item must always read
back as it was written."""

from __future__ import annotations

import json
import secrets
from typing import Any

from boto3.dynamodb.conditions import Key

from gateway_common import db
from gateway_common.timeutil import iso_now, now_ts

ACTIVITY = "ActivityTable"
USAGE = "UsageTable"
RETENTION_SECONDS = 400 * 86400


def put_event(user_id: str, event_type: str, event_data: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    timestamp = iso_now()
    activity_id = "activity_" + secrets.token_hex(8)
    item = {
        "user_id": user_id, "sk": f"{timestamp}#{activity_id}", "user_event": f"{user_id}#{event_type}",
        "id": activity_id, "event_type": event_type, "event_data": _text(event_data), "metadata": _text(metadata),
        "timestamp": timestamp, "expires_at": int(now_ts()) + RETENTION_SECONDS,
    }
    db.table(ACTIVITY).put_item(Item=item, ConditionExpression="attribute_not_exists(sk)")
    return item


def _text(value: dict[str, Any]) -> str:
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def event_json(item: dict[str, Any], name: str) -> dict[str, Any]:
    """A stored event's ``event_data`` or ``metadata`` as the object the client logged."""
    value = json.loads(item[name]) if item.get(name) else {}
    return value if isinstance(value, dict) else {}


def _condition(hash_name: str, hash_value: str, since: str, until: str) -> Any:
    return Key(hash_name).eq(hash_value) & Key("sk").between(since, until)


def _query(table: str, condition: Any, *, index: str | None, limit: int) -> list[dict[str, Any]]:
    """Newest first, at most ``limit`` items (paginated Query)."""
    kwargs: dict[str, Any] = {"KeyConditionExpression": condition, "ScanIndexForward": False}
    if index:
        kwargs["IndexName"] = index
    items: list[dict[str, Any]] = []
    while len(items) < limit:
        kwargs["Limit"] = limit - len(items)
        out = db.table(table).query(**kwargs)
        items.extend(out.get("Items", []))
        if "LastEvaluatedKey" not in out:
            break
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
    return items


def _count(table: str, condition: Any, *, index: str | None) -> int:
    kwargs: dict[str, Any] = {"KeyConditionExpression": condition, "Select": "COUNT"}
    if index:
        kwargs["IndexName"] = index
    return sum(int(page.get("Count", 0)) for page in db.query_pages(table, **kwargs))


def logged_events(user_id: str, event_type: str | None, since: str, until: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    if event_type:
        condition, index = _condition("user_event", f"{user_id}#{event_type}", since, until), "by-event-type"
    else:
        condition, index = _condition("user_id", user_id, since, until), None
    return _query(ACTIVITY, condition, index=index, limit=limit), _count(ACTIVITY, condition, index=index)


def api_calls(user_id: str, since: str, until: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The user's usage records in the range (UsageTable, by user_id + sk: a Query, never a scan)."""
    condition = _condition("user_id", user_id, since, until)
    return _query(USAGE, condition, index=None, limit=limit), _count(USAGE, condition, index=None)
