"""Usage records (UsageTable, the table with the stream): one record per metered request.

Key: ``user_id`` + ``sk`` = ``<created_at ISO>#<request_id>``; index ``by-key`` (key_id, sk). The proxy writes a record
in the same transaction that settles the request's cost; records are never edited: a refund or re-price is a new record
(``kind="correction"``, ``corrects`` = the original request id, ``cost`` = the signed change; see corrections.py);
the rollup job reads the table's stream; history endpoints
query by user or key (never scan).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from . import db
from .dynamo_items import to_item
from .dynamo_types import serialize_item

USAGE = "UsageTable"
RETENTION_SECONDS = 400 * 86400  # raw records kept 400 days (TTL); rollups keep the totals for ever


class UsageRecord(BaseModel):
    user_id: str
    request_id: str
    key_id: str
    plan_id: int
    endpoint: str = Field(description="e.g. /v1/chat/completions, /v1/responses, /images/generate, /api/chat")
    model: str
    provider: str = Field(description="provider that served it: openai, anthropic, openrouter, …, sandbox")
    route: str = Field("", description="the route (provider + upstream model) actually used")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = Decimal("0")  # our price x tokens, in `currency`
    provider_cost: Decimal | None = None  # what the provider reported (OpenRouter usage.cost), for comparison
    currency: str = "usd"
    latency_ms: int = 0
    status: Literal["success", "error", "partial"] = "success"
    http_status: int = 200
    estimated: bool = False
    sandbox: bool = False
    stream: bool = False
    ip_address: str | None = None
    created_at: str  # ISO 8601, UTC, "Z"
    providers_tried: list[str] = Field(default_factory=list, description="a failed call's providers, in order tried")
    error_class: str | None = Field(None, description="why the last provider failed: rate_limited, server_error, …")
    kind: Literal["request", "correction"] = "request"
    corrects: str | None = Field(None, description="a correction's original request id")
    reason: str | None = Field(None, description="a correction's reason, as the admin gave it")

    @property
    def sk(self) -> str:
        return f"{self.created_at}#{self.request_id}"

    def item(self) -> dict[str, Any]:
        data = self.model_dump()
        data["sk"] = self.sk
        data["day"] = self.created_at[:10]
        data["month"] = self.created_at[:7]
        from .timeutil import parse_iso

        data["expires_at"] = int(parse_iso(self.created_at).timestamp()) + RETENTION_SECONDS
        return to_item(data)


def transaction_put(record: UsageRecord) -> dict[str, Any]:
    """The record as a TransactWriteItems Put, conditional so a retried settle cannot write it twice."""
    return {
        "Put": {
            "TableName": db.table_name(USAGE),
            "Item": serialize_item(record.item()),
            "ConditionExpression": "attribute_not_exists(sk)",
        }
    }


def recent_for_key(key_id: str, limit: int = 20, since: str | None = None) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "IndexName": "by-key",
        "KeyConditionExpression": "key_id = :k" + (" AND sk >= :s" if since else ""),
        "ExpressionAttributeValues": {":k": key_id, **({":s": since} if since else {})},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    return db.table(USAGE).query(**kwargs).get("Items", [])


def recent_for_user(user_id: str, limit: int = 20, since: str | None = None, until: str | None = None) -> list[dict[str, Any]]:
    condition = "user_id = :u"
    values: dict[str, Any] = {":u": user_id}
    if since and until:
        condition += " AND sk BETWEEN :s AND :e"
        values.update({":s": since, ":e": until + "\uffff"})
    elif since:
        condition += " AND sk >= :s"
        values[":s"] = since
    return db.table(USAGE).query(
        KeyConditionExpression=condition, ExpressionAttributeValues=values, ScanIndexForward=False, Limit=limit
    ).get("Items", [])
