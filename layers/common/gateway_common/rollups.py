"""Usage rollups (RollupsTable): what the rollup job writes and every analytics endpoint reads.

One item per (partition ``pk``, period ``sk``) with additive totals. Partitions:

- ``global``, ``user#<id>``, ``key#<id>``, ``model#<id>``, ``provider#<id>``: totals by ``day#YYYY-MM-DD`` and
  ``month#YYYY-MM`` (``global`` also keeps ``all``, the all-time total);
- breakdown partitions ``<scope>|<dimension>`` with ``sk`` = ``day#YYYY-MM-DD#<value>``: per model, provider or plan
  inside a scope (e.g. ``key#k1|provider`` holds a key's per-provider days), and ``global|user`` with
  ``hour#YYYY-MM-DDTHH#<user id>`` (active users, kept 3 days by TTL).

Every read is a Query on one partition with an ``sk`` range: no scans, and a date range is one round trip per partition.

Money is kept per currency, never summed across currencies: ``cost_<currency>`` (``cost_usd``, ``cost_eur``) and
``requests_<currency>`` (the requests whose cost is in that currency), because records carry their plan's currency and
an average is only meaningful as one currency's cost over that currency's requests. No figure here converts.

Corrections (``kind == "correction"``: a refund or re-price of an earlier request, see ``gateway_common.corrections``)
add their cost delta and count in ``corrections``, never in ``requests``: the request was counted once, when it was made.

Key versions: which rows a record adds to is versioned (``KEY_VERSION``). The rollup job stores the version with a batch
in progress, so a batch begun under one version is finished with that version's rules even after a deploy changes them.
- v1: sandbox records counted only in their user's and key's rows;
- v2: every record counts in every view (global, model, provider, plan included), so all views agree; the sandbox's
  share is kept apart (``sandbox_requests``, ``sandbox_tokens``) for the views that leave it out (the public ranking).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key

from . import db
from .timeutil import parse_iso

ROLLUPS = "RollupsTable"
JOB_STATUS = ("StreamCheckpointsTable", "job#rollup")  # the rollup job's status item (see gw_rollup.job)
HOUR_ROW_TTL = 3 * 86400
COUNT_FIELDS = ("requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens", "latency_ms", "estimated",
                "corrections", "sandbox_requests", "sandbox_tokens")
KEY_VERSION = 2


@dataclass
class Totals:
    """Additive totals of a set of usage records."""

    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    latency_ms: int = 0
    estimated: int = 0
    corrections: int = 0
    sandbox_requests: int = 0  # of ``requests``, those answered by the sandbox (test/dev keys): never charged
    sandbox_tokens: int = 0  # of ``total_tokens``, the sandbox's
    cost: dict[str, Decimal] = field(default_factory=dict)  # currency -> amount
    count: dict[str, int] = field(default_factory=dict)  # currency -> requests whose cost is in that currency

    def add(self, other: Totals) -> None:
        for name in COUNT_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for currency, amount in other.cost.items():
            self.cost[currency] = self.cost.get(currency, Decimal("0")) + amount
        for currency, number in other.count.items():
            self.count[currency] = self.count.get(currency, 0) + number

    def cost_in(self, currency: str) -> Decimal:
        return self.cost.get(currency.lower(), Decimal("0"))

    def requests_in(self, currency: str) -> int:
        return self.count.get(currency.lower(), 0)

    def average_in(self, currency: str) -> Decimal:
        """Average cost of a request in ``currency``: that currency's cost over that currency's requests."""
        n = self.requests_in(currency)
        return (self.cost_in(currency) / n).quantize(Decimal("0.000001")) if n else Decimal("0")

    @property
    def currencies(self) -> list[str]:
        return sorted(set(self.cost) | set(self.count))

    @property
    def avg_latency_ms(self) -> int:
        return round(self.latency_ms / self.requests) if self.requests else 0

    @classmethod
    def of_record(cls, image: dict[str, Any]) -> Totals:
        """Totals of one usage record (a UsageTable item, plain Python values)."""
        currency = str(image.get("currency") or "usd").lower()
        cost = {currency: Decimal(str(image.get("cost") or "0"))}
        tokens = {
            "prompt_tokens": int(image.get("prompt_tokens") or 0),
            "completion_tokens": int(image.get("completion_tokens") or 0),
            "total_tokens": int(image.get("total_tokens") or 0),
        }
        if image.get("kind") == "correction":
            return cls(corrections=1, cost=cost, **tokens)
        sandbox = bool(image.get("sandbox"))
        return cls(
            requests=1,
            sandbox_requests=int(sandbox),
            sandbox_tokens=tokens["total_tokens"] if sandbox else 0,
            errors=0 if image.get("status", "success") == "success" else 1,
            latency_ms=int(image.get("latency_ms") or 0),
            estimated=1 if image.get("estimated") else 0,
            cost=cost,
            count={currency: 1},
            **tokens,
        )

    @classmethod
    def of_item(cls, item: dict[str, Any]) -> Totals:
        """Totals of a stored rollup item."""
        return cls(
            **{name: int(item.get(name, 0)) for name in COUNT_FIELDS},
            cost={k.removeprefix("cost_"): Decimal(item[k]) for k in item if k.startswith("cost_")},
            count={k.removeprefix("requests_"): int(item[k]) for k in item if k.startswith("requests_")},
        )


def row_keys(image: dict[str, Any], version: int = KEY_VERSION) -> list[tuple[str, str]]:
    """Every rollup row one usage record adds to, under the rules of key ``version``."""
    if version not in KEY_RULES:
        raise ValueError(f"unknown rollup key version {version} (known: {sorted(KEY_RULES)})")
    return KEY_RULES[version](image)


def _rows_v2(image: dict[str, Any]) -> list[tuple[str, str]]:
    """Every view counts every record (sandbox ones too, at their cost of 0)."""
    return _rows(image, with_global=True)


def _rows_v1(image: dict[str, Any]) -> list[tuple[str, str]]:
    """Sandbox records count only for their own user and key (kept to finish batches begun under v1)."""
    return _rows(image, with_global=not image.get("sandbox"))


def _rows(image: dict[str, Any], *, with_global: bool) -> list[tuple[str, str]]:
    day = str(image.get("day") or image["created_at"][:10])
    month = str(image.get("month") or day[:7])
    hour = str(image["created_at"][:13])
    user, key = f"user#{image['user_id']}", f"key#{image['key_id']}"
    model, provider = str(image.get("model") or "unknown"), str(image.get("provider") or "unknown")
    plan = str(image.get("plan_id", ""))
    rows = [
        (user, f"day#{day}"), (user, f"month#{month}"),
        (f"{user}|model", f"day#{day}#{model}"), (f"{user}|provider", f"day#{day}#{provider}"),
        (f"{user}|plan", f"day#{day}#{plan}"),
        (key, f"day#{day}"), (key, f"month#{month}"), (f"{key}|provider", f"day#{day}#{provider}"),
    ]
    if not with_global:
        return rows
    mscope, pscope = f"model#{model}", f"provider#{provider}"
    rows += [
        ("global", f"day#{day}"), ("global", f"month#{month}"), ("global", "all"),
        ("global|model", f"day#{day}#{model}"), ("global|provider", f"day#{day}#{provider}"),
        ("global|plan", f"day#{day}#{plan}"), ("global|user", f"hour#{hour}#{image['user_id']}"),
        (mscope, f"day#{day}"), (mscope, f"month#{month}"),
        (f"{mscope}|provider", f"day#{day}#{provider}"), (f"{mscope}|plan", f"day#{day}#{plan}"),
        (pscope, f"day#{day}"), (pscope, f"month#{month}"),
        (f"{pscope}|model", f"day#{day}#{model}"), (f"{pscope}|plan", f"day#{day}#{plan}"),
    ]
    return rows


KEY_RULES = {1: _rows_v1, 2: _rows_v2}


def aggregate(images: Iterable[dict[str, Any]], version: int = KEY_VERSION) -> dict[tuple[str, str], Totals]:
    """In-memory aggregation: many records become one Totals per rollup row."""
    rows: dict[tuple[str, str], Totals] = {}
    for image in images:
        totals = Totals.of_record(image)
        for row in row_keys(image, version):
            existing = rows.get(row)
            if existing is None:
                rows[row] = Totals()
                existing = rows[row]
            existing.add(totals)
    return rows


def update_item(pk: str, sk: str, totals: Totals, *, now_iso: str, expires_at: int | None) -> dict[str, Any]:
    """The row's additive update as a TransactWriteItems element (low-level attribute values)."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    adds = []
    for i, name in enumerate(COUNT_FIELDS):
        amount = getattr(totals, name)
        if amount:
            names[f"#n{i}"] = name
            values[f":n{i}"] = {"N": str(amount)}
            adds.append(f"#n{i} :n{i}")
    for i, (currency, amount) in enumerate(sorted(totals.cost.items())):
        names[f"#c{i}"] = f"cost_{currency}"
        values[f":c{i}"] = {"N": str(amount)}
        adds.append(f"#c{i} :c{i}")
    for i, (currency, number) in enumerate(sorted(totals.count.items())):
        names[f"#r{i}"] = f"requests_{currency}"
        values[f":r{i}"] = {"N": str(number)}
        adds.append(f"#r{i} :r{i}")
    sets = ["updated_at = :now"]
    values[":now"] = {"S": now_iso}
    if expires_at is not None:
        sets.append("expires_at = :exp")
        values[":exp"] = {"N": str(expires_at)}
    expression = "SET " + ", ".join(sets)
    if adds:
        expression += " ADD " + ", ".join(adds)
    update: dict[str, Any] = {
        "TableName": db.table_name(ROLLUPS),
        "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
        "UpdateExpression": expression,
        "ExpressionAttributeValues": values,
    }
    if names:
        update["ExpressionAttributeNames"] = names
    return {"Update": update}


# ------------------------------------------------------------------ reads (Query only)


def query(pk: str, sk_from: str, sk_to: str) -> list[dict[str, Any]]:
    """Every row of one partition with ``sk_from <= sk <= sk_to`` (paginated Query)."""
    return list(db.query_items(ROLLUPS, KeyConditionExpression=Key("pk").eq(pk) & Key("sk").between(sk_from, sk_to)))


def days(pk: str, first_day: str, last_day: str) -> dict[str, Totals]:
    """Per-day totals of a scope partition: {YYYY-MM-DD: Totals}."""
    return {item["sk"][4:]: Totals.of_item(item) for item in query(pk, f"day#{first_day}", f"day#{last_day}")}


def breakdown(scope: str, dimension: str, first_day: str, last_day: str) -> dict[str, dict[str, Totals]]:
    """Per-day totals by a dimension inside a scope: {YYYY-MM-DD: {value: Totals}}."""
    out: dict[str, dict[str, Totals]] = {}
    for item in query(f"{scope}|{dimension}", f"day#{first_day}#", f"day#{last_day}#\uffff"):
        _, day, value = item["sk"].split("#", 2)
        out.setdefault(day, {})[value] = Totals.of_item(item)
    return out


def get_row(pk: str, sk: str) -> Totals:
    item = db.table(ROLLUPS).get_item(Key={"pk": pk, "sk": sk}).get("Item")
    return Totals.of_item(item) if item else Totals()


def active_users(first_hour: str, last_hour: str) -> set[str]:
    """Users with a request in [first_hour, last_hour] (``YYYY-MM-DDTHH``)."""
    items = query("global|user", f"hour#{first_hour}#", f"hour#{last_hour}#\uffff")
    return {item["sk"].split("#", 2)[2] for item in items}


def complete_until() -> datetime | None:
    """The rollups count every record settled before this time (the rollup job's last run; None before its first)."""
    table, key = JOB_STATUS
    item = db.table(table).get_item(Key={"shard_id": key}).get("Item") or {}
    value = item.get("complete_until")
    return parse_iso(str(value)) if value else None


def settled_before(record: dict[str, Any], cut_off: datetime) -> bool:
    """Whether a usage record was written before ``cut_off``: it is written when its request settles, which is
    ``created_at`` (the request's start, to the second) plus its latency; a second of margin keeps the answer "no"
    when it cannot be told."""
    started = parse_iso(str(record.get("created_at") or "9999-12-31T00:00:00Z"))
    return started + timedelta(milliseconds=int(record.get("latency_ms") or 0), seconds=1) < cut_off
