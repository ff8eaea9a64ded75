"""Usage records as the LLM proxy writes them, and rollup rows, for usage-analytics tests."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gateway_common import db
from gateway_common.timeutil import iso, now_ts
from gateway_common.usage import UsageRecord


def usage_record(user_id: str, key_id: str, *, model: str = "openai/gpt-4o-mini", provider: str = "openai",
                 tokens: tuple[int, int] = (10, 20), cost: str = "0.001", currency: str = "eur", latency_ms: int = 200,
                 plan_id: int = 5, status: str = "success", created_at: str | None = None, sandbox: bool = False,
                 endpoint: str = "/api/chat") -> UsageRecord:
    return UsageRecord(
        user_id=user_id, request_id="req_" + secrets.token_hex(8), key_id=key_id, plan_id=plan_id, endpoint=endpoint,
        model=model, provider=provider, prompt_tokens=tokens[0], completion_tokens=tokens[1],
        total_tokens=tokens[0] + tokens[1], cost=Decimal(cost), currency=currency, latency_ms=latency_ms,
        status=status, sandbox=sandbox, created_at=created_at or iso(datetime.fromtimestamp(now_ts(), tz=UTC)),
        ip_address="192.168.1.100",
    )


def write_records(records: list[UsageRecord]) -> None:
    table = db.table("UsageTable")
    with table.batch_writer() as batch:
        for record in records:
            batch.put_item(Item=record.item())


def key_id_of(raw: str) -> str:
    from gateway_common.keys import hash_key, key_id_for_hash

    return key_id_for_hash(hash_key(raw))


def totals(pk: str, sk: str) -> dict[str, Any]:
    item = db.table("RollupsTable").get_item(Key={"pk": pk, "sk": sk}).get("Item") or {}
    return {k: v for k, v in item.items() if k not in ("pk", "sk", "updated_at", "expires_at")}
