"""Idempotency-Key on POST /v1/chat/completions: a replay returns the stored response and charges nothing.

The claim is a conditional Put of ``idem#<key_id>#<sha256(Idempotency-Key)>`` in CountersTable, run in the admission
round trip. The response is stored in the same transaction that settles the request (so "charged" and "stored" cannot
disagree); a failed request deletes its claim so the client may retry with the same key. Claims expire after 24 h.
A claim still pending after ``STALE_SECONDS`` (the reservation lifetime: its invocation crashed, and the sweep
releases its reservation) is taken over by the next request with the same key and body, instead of answering 409 for
a day.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from gateway_common import db
from gateway_common.errors import BadRequest, Conflict
from gateway_common.parallel import Step
from gateway_common.timeutil import iso, now_ts

COUNTERS = "CountersTable"
TTL_SECONDS = 86400
STALE_SECONDS = 900  # = metering.RESERVATION_SECONDS: no live invocation holds a claim longer
MAX_STORED_BYTES = 300_000


class Replay(Exception):
    """The key was used before: the stored response (or 409 while the first request runs)."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__("replay")
        self.response = response


def counter_id(key_id: str, idempotency_key: str) -> str:
    return f"idem#{key_id}#{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}"


def body_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def validate_key(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 255:
        raise BadRequest("Idempotency-Key must be 1 to 255 characters")
    return value


def claim_step(cid: str, request_id: str, fingerprint: str) -> Step:
    table = db.table(COUNTERS)

    def claim(condition: str, values: dict[str, Any] | None = None) -> None:
        now = int(now_ts())
        table.put_item(
            Item={"counter_id": cid, "state": "pending", "request_id": request_id, "body_hash": fingerprint,
                  "claimed_at": now, "expires_at": now + TTL_SECONDS},
            ConditionExpression=condition,
            **({"ExpressionAttributeValues": values, "ExpressionAttributeNames": {"#s": "state"}} if values else {}),
        )

    def run() -> None:
        try:
            claim("attribute_not_exists(counter_id)")
            return
        except ClientError as exc:
            if not db.is_conditional_failure(exc):
                raise
        item = table.get_item(Key={"counter_id": cid}, ConsistentRead=True).get("Item") or {}
        if item.get("body_hash") != fingerprint:
            first = iso(datetime.fromtimestamp(int(item.get("claimed_at", 0)), tz=UTC))
            raise Conflict(f"This Idempotency-Key was already used at {first} with a different request body: use a new "
                           "key for a different request", code="idempotency_key_reused")
        if item.get("state") == "done":
            raise Replay(json.loads(item["response"]))
        if int(item.get("claimed_at", now_ts())) + STALE_SECONDS < now_ts():
            try:  # the claimant crashed: take the claim over (only one taker wins)
                claim("request_id = :old AND #s = :pending", {":old": item["request_id"], ":pending": "pending"})
                return
            except ClientError as exc:
                if not db.is_conditional_failure(exc):
                    raise
        raise Conflict("A request with this Idempotency-Key is still in progress: retry shortly")

    def undo(_: None) -> None:
        table.delete_item(Key={"counter_id": cid}, ConditionExpression="request_id = :r",
                          ExpressionAttributeValues={":r": request_id})

    return Step(run=run, undo=undo)


def store_item(cid: str, request_id: str, response: dict[str, Any]) -> dict[str, Any]:
    """Transaction element: store the response (or drop the claim when it is too big to store)."""
    text = json.dumps(response, separators=(",", ":"))
    if len(text.encode()) > MAX_STORED_BYTES:
        return release_item(cid, request_id)
    return {"Update": {
        "TableName": db.table_name(COUNTERS),
        "Key": {"counter_id": {"S": cid}},
        "UpdateExpression": "SET #s = :done, #r = :resp",
        "ConditionExpression": "request_id = :rid",
        "ExpressionAttributeNames": {"#s": "state", "#r": "response"},
        "ExpressionAttributeValues": {":done": {"S": "done"}, ":resp": {"S": text}, ":rid": {"S": request_id}},
    }}


def release_item(cid: str, request_id: str) -> dict[str, Any]:
    return {"Delete": {
        "TableName": db.table_name(COUNTERS),
        "Key": {"counter_id": {"S": cid}},
        "ConditionExpression": "request_id = :rid",
        "ExpressionAttributeValues": {":rid": {"S": request_id}},
    }}
