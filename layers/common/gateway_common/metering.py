"""Settling AI requests: the hold taken by admission becomes the actual cost, exactly once; and the sweep.

Admission (``admission``) holds the request's maximum cost ``c`` on the account item (``hold#<request id> = c``, 0 for
requests that cost nothing; prepaid plans: ``available -= c, reserved += c``; AI-included plans: the month's
``budget#used`` += c) and, when ``c`` > 0, writes a reservation marker. Settle is ONE TransactWriteItems of two
items (three when the key has its own caps):

  * the account item, on condition that ``hold#<request id>`` still exists: the hold removed (so a second settle, or a
    retry of this one after it was applied, changes nothing), ``c - actual`` given back
    (``available += c - actual, reserved -= c``, or ``budget#used += actual - c``), the month's spend figures and the
    tokens-per-minute window corrected to the actual tokens;
  * the usage record (a conditional Put: written once);
  * the key's item when it counts its own budget or tokens.

A second settle of the same request finds the hold gone (or the usage record written) and changes nothing. Amounts are
exact Decimals (price x tokens, never rounded), so the usage records add up to the balance change. At any quiet moment,
for prepaid accounts: ``available + reserved = credits added - sum(usage.cost charged to credits)``, and ``reserved`` =
the sum of the open credit holds; for AI-included accounts, each month's ``budget#used`` = that month's usage cost + its
open holds (the balance is untouched). ``ops/reconcile.py`` checks both.

The actual cost exceeds ``c`` only when the provider counts more prompt tokens than our generous estimate (about 3
characters a token); the balance can then dip below zero by that difference, never more.

The marker (ReservationsTable) is never updated: it exists so that the sweep can find holds of crashed invocations
through the ``open-by-deadline`` index, visiting each marker once (a cursor), and TTL deletes it for free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from . import db, names, ratelimit, usage
from .expressions import Update
from .timeutil import iso_now, now_ts

OPEN_INDEX = "open-by-deadline"
RESERVATION_SECONDS = 900  # a hold older than this belongs to a crashed invocation; the sweep releases it
SWEEP_CURSOR = "sweep#cursor"
MARKER_TTL = 86400

Mode = Literal["credits", "budget", "free"]


@dataclass
class Reservation:
    """One admitted AI request: what was held and counted, so that settle can give back exactly that."""

    reservation_id: str
    user_id: str
    key_id: str
    plan_id: int
    mode: Mode
    amount: Decimal  # held cost (0 in free mode), in `currency`
    currency: str
    endpoint: str
    model: str
    created_at: str = field(default_factory=iso_now)
    ts: float = field(default_factory=now_ts)
    budget: Decimal | None = None  # the plan's monthly budget (budget mode)
    tokens: int = 0  # counted in the tokens-per-minute windows (prompt estimate + output cap)
    key_counted: bool = False  # the key's item counts this request (its own caps)
    key_tokens: bool = False  # … including its tokens per minute

    @property
    def month(self) -> str:
        return ratelimit.window_bounds("month", self.ts)[0]

    @property
    def minute(self) -> str:
        return ratelimit.window_bounds("minute", self.ts)[0]

    @property
    def deadline(self) -> int:
        return int(self.ts) + RESERVATION_SECONDS

    def marker(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "reservation_id": self.reservation_id, "user_id": self.user_id, "key_id": self.key_id,
            "plan_id": self.plan_id, "mode": self.mode, "amount": self.amount, "currency": self.currency,
            "endpoint": self.endpoint, "model": self.model, "created_at": self.created_at, "ts": Decimal(str(self.ts)),
            "tokens": self.tokens, "key_counted": self.key_counted, "key_tokens": self.key_tokens,
            "open_shard": "open", "deadline": self.deadline, "expires_at": self.deadline + MARKER_TTL,
        }
        if self.budget is not None:
            item["budget"] = self.budget
        return item

    @classmethod
    def from_marker(cls, item: dict[str, Any]) -> Reservation:
        return cls(
            reservation_id=item["reservation_id"], user_id=item["user_id"], key_id=item["key_id"],
            plan_id=int(item["plan_id"]), mode=item["mode"], amount=Decimal(item["amount"]), currency=item["currency"],
            endpoint=item["endpoint"], model=item["model"], created_at=item["created_at"], ts=float(item["ts"]),
            budget=Decimal(item["budget"]) if item.get("budget") is not None else None,
            tokens=int(item.get("tokens", 0)), key_counted=bool(item.get("key_counted")),
            key_tokens=bool(item.get("key_tokens")),
        )


def _account_settle(res: Reservation, record: usage.UsageRecord) -> dict[str, Any]:
    update = Update()
    hold = names.hold_attribute(res.reservation_id)
    update.require(f"attribute_exists({update.name(hold)})")  # exactly once: the hold is removed by the first settle
    update.remove(hold)
    if res.mode == "credits":
        update.add("available", res.amount - record.cost)
        update.add("reserved", -res.amount)
    elif res.mode == "budget":
        update.add(names.budget_attribute(res.month), record.cost - res.amount)
    update.add(names.spend_attribute("cost", res.month), record.cost)
    update.add(names.spend_attribute("requests", res.month), 1)
    update.add(names.spend_attribute("tokens", res.month), record.total_tokens)
    update.add(names.spend_attribute("latency_ms", res.month), record.latency_ms)
    if res.tokens:
        update.add(ratelimit.window_attribute(names.ACCOUNT_WINDOWS, ratelimit.TOKENS, res.minute),
                   record.total_tokens - res.tokens)
    return {"Update": update.low_level(db.table_name(names.USERS), {"user_id": res.user_id})}


def _key_settle(res: Reservation, record: usage.UsageRecord) -> dict[str, Any]:
    update = Update()
    update.remove(names.hold_attribute(res.reservation_id))
    if res.mode != "free":
        update.add(names.budget_attribute(res.month, names.KEY_BUDGET_USED), record.cost - res.amount)
    if res.key_tokens:
        update.add(ratelimit.window_attribute(names.KEY_WINDOWS, ratelimit.TOKENS, res.minute),
                   record.total_tokens - res.tokens)
    update.add(names.spend_attribute("cost", res.month), record.cost)
    update.require("attribute_exists(key_id)")
    return {"Update": update.low_level(db.table_name(names.API_KEYS), {"key_id": res.key_id})}


def settle(res: Reservation, record: usage.UsageRecord, extra_items: list[dict[str, Any]] | None = None) -> bool:
    """Charge ``record.cost`` against the hold, write the usage record and the month's figures, exactly once.

    Returns False when this request was already settled (a retried settle, or the sweep came first): nothing changes.
    """
    items: dict[str, dict[str, Any]] = {"account": _account_settle(res, record), "usage": usage.transaction_put(record)}
    if res.key_counted:
        items["key"] = _key_settle(res, record)
    for index, item in enumerate(extra_items or []):
        items[f"extra{index}"] = item
    try:
        db.transact(items)
    except db.TransactionRefused as refused:
        if "usage" in refused.labels or "account" in refused.labels:
            return False
        raise RuntimeError(f"settle of {res.reservation_id} was refused by {refused.labels}") from None
    return True


def open_holds(user_id: str) -> dict[str, Decimal]:
    """The account's open holds by request id (tests, reconciliation)."""
    item = db.table(names.USERS).get_item(Key={"user_id": user_id}, ConsistentRead=True).get("Item") or {}
    return {name[len(names.HOLD):]: Decimal(value) for name, value in item.items() if name.startswith(names.HOLD)}


def expired_reservations(now: float | None = None, limit: int = 1000) -> list[Reservation]:
    """Markers whose deadline passed and that the sweep has not visited yet (it keeps a cursor: each once)."""
    now = now_ts() if now is None else now
    cursor = db.table(names.COUNTERS).get_item(Key={"counter_id": SWEEP_CURSOR}, ConsistentRead=True).get("Item")
    query: dict[str, Any] = {
        "IndexName": OPEN_INDEX,
        "KeyConditionExpression": "open_shard = :o AND deadline <= :now",
        "ExpressionAttributeValues": {":o": "open", ":now": int(now)},
        "Limit": min(limit, 100),
    }
    if cursor and cursor.get("last_key"):
        query["ExclusiveStartKey"] = cursor["last_key"]
    found: list[Reservation] = []
    for page in db.query_pages(names.RESERVATIONS, **query):
        found.extend(Reservation.from_marker(item) for item in page.get("Items", []))
        if len(found) >= limit:
            break
    return found[:limit]


def _advance_cursor(last: Reservation) -> None:
    """Remember the last marker visited (markers are ordered by deadline, then id, in the index)."""
    key = {"open_shard": "open", "deadline": last.deadline, "reservation_id": last.reservation_id}
    db.table(names.COUNTERS).put_item(Item={"counter_id": SWEEP_CURSOR, "last_key": key})


def _still_held(found: list[Reservation]) -> list[Reservation]:
    """The markers whose hold is still open: one consistent read of each account (its holds only) per 50 markers.

    Nearly every marker belongs to a request that settled normally; a read (1 read unit) finds that out where a settle
    transaction refused by its condition would cost 2 write units per item."""
    by_user: dict[str, list[Reservation]] = {}
    for res in found:
        by_user.setdefault(res.user_id, []).append(res)
    open_ones: list[Reservation] = []
    for user_id, markers in by_user.items():
        for start in range(0, len(markers), 50):
            chunk = markers[start:start + 50]
            names_map = {f"#h{i}": names.hold_attribute(res.reservation_id) for i, res in enumerate(chunk)}
            item = db.table(names.USERS).get_item(
                Key={"user_id": user_id}, ConsistentRead=True, ProjectionExpression=", ".join(names_map),
                ExpressionAttributeNames=names_map,
            ).get("Item") or {}
            open_ones.extend(res for res in chunk if names.hold_attribute(res.reservation_id) in item)
    return open_ones


def sweep(now: float | None = None, limit: int = 1000) -> int:
    """Release holds left open by crashed invocations: settle each at cost 0 with an error usage record. Markers of
    requests that settled normally are skipped after one read of their account (a settle racing the sweep still wins
    exactly once: the settle transaction is conditional on the hold). Returns the holds released."""
    released = 0
    found = expired_reservations(now, limit)
    for res in _still_held(found):
        record = usage.UsageRecord(
            user_id=res.user_id, request_id=res.reservation_id, key_id=res.key_id, plan_id=res.plan_id,
            endpoint=res.endpoint, model=res.model, provider="unknown", route="", cost=Decimal("0"),
            currency=res.currency, status="error", http_status=500, estimated=True, created_at=res.created_at,
        )
        if settle(res, record):
            released += 1
    if found:
        _advance_cursor(found[-1])
    return released
