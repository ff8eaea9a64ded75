"""Settling AI requests: the hold taken by admission becomes the actual cost, exactly once; and the sweep.

Admission (``admission``) holds the request's maximum cost ``c`` on the account item (``hold#<request id>#<taken
at>#<mode>#<key id> = c``, 0 for requests that cost nothing; prepaid plans: ``available -= c, reserved += c``;
AI-included plans: the month's ``budget#used`` += c), counts it in ``holds_open`` and lists the account in the sweep's
index (``holds_due``, set when absent). Settle is ONE TransactWriteItems of two items (three when the key has its own
caps):

  * the account item, on condition that its hold still exists: the hold removed (so a second settle, or a retry of this
    one after it was applied, changes nothing), ``holds_open`` - 1, ``c - actual`` given back
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

The sweep finds holds of crashed invocations through the account items themselves, with no write per request of its
own: the users table's sparse ``holds-due`` index lists an account while ``holds_due`` is set (admission sets it to
its hold's deadline when absent, so a busy account's index entry is written once, not per request). The sweep visits
the accounts whose ``holds_due`` passed, releases the holds whose own deadline passed (their names say when they were
taken, the billing mode and the key), then moves ``holds_due`` to the next open hold's deadline, or removes it when none
is left, on condition that ``holds_open`` is what it read: an admission or settle in between refuses the write (the
next run does it), so an account with an open hold is never left out of the index. Until then a reservation marker
(ReservationsTable, one PutItem and one index entry per request) did this; the markers of holds taken before are still
visited once each (a cursor) until TTL deletes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from botocore.exceptions import ClientError

from . import account_state, db, names, ratelimit, usage
from .expressions import Update
from .timeutil import iso, iso_now, now_ts

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
    legacy: bool = False  # a hold named by its request id alone (taken before holds carried their fields; its marker)

    @property
    def month(self) -> str:
        return ratelimit.window_bounds("month", self.ts)[0]

    @property
    def minute(self) -> str:
        return ratelimit.window_bounds("minute", self.ts)[0]

    @property
    def deadline(self) -> int:
        return int(self.ts) + RESERVATION_SECONDS

    @property
    def hold(self) -> str:
        """The hold's attribute on the account item."""
        if self.legacy:
            return names.hold_attribute(self.reservation_id)
        return names.account_hold_attribute(self.reservation_id, int(self.ts), self.mode, self.key_id, self.key_counted)

    @classmethod
    def from_hold(cls, item: dict[str, Any], name: str) -> Reservation | None:
        """The reservation an account item's hold attribute names (None for a hold named by its request id alone): what
        the sweep releases. What the name does not say (model, endpoint) is unknown to the error record it writes."""
        hold = names.parse_hold(name)
        if hold is None or hold.taken_at is None:
            return None
        created = datetime.fromtimestamp(hold.taken_at, tz=UTC)
        return cls(
            reservation_id=hold.request_id, user_id=item["user_id"], key_id=hold.key_id, plan_id=int(item["plan_id"]),
            mode=hold.mode, amount=Decimal(str(item[name])), currency=str(item.get("currency") or "usd"),  # type: ignore[arg-type]
            endpoint="unknown", model="unknown", created_at=iso(created), ts=float(hold.taken_at),
            key_counted=hold.key_counted,
        )

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
            key_tokens=bool(item.get("key_tokens")), legacy=True,
        )


def _account_settle(res: Reservation, record: usage.UsageRecord) -> dict[str, Any]:
    update = Update()
    update.require(f"attribute_exists({update.name(res.hold)})")  # exactly once: the hold is removed by the first settle
    update.remove(res.hold)
    if not res.legacy:
        update.add(names.HOLDS_OPEN, -1)
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
    return account_state.read(user_id).holds()


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


def _release(res: Reservation) -> bool:
    """Settle at cost 0 with an error usage record (False: the request settled first)."""
    record = usage.UsageRecord(
        user_id=res.user_id, request_id=res.reservation_id, key_id=res.key_id, plan_id=res.plan_id,
        endpoint=res.endpoint, model=res.model, provider="unknown", route="", cost=Decimal("0"),
        currency=res.currency, status="error", http_status=500, estimated=True, created_at=res.created_at,
    )
    return settle(res, record)


def due_accounts(now: float, limit: int) -> list[str]:
    """Accounts whose ``holds_due`` passed, from every shard of the holds-due index."""
    found: list[str] = []
    for shard in range(names.HOLDS_SHARDS):
        query = {"IndexName": names.HOLDS_INDEX, "Limit": 100,
                 "KeyConditionExpression": "#s = :s AND #d <= :now",
                 "ExpressionAttributeNames": {"#s": names.HOLDS_SHARD, "#d": names.HOLDS_DUE},
                 "ExpressionAttributeValues": {":s": f"s{shard}", ":now": int(now)}}
        for page in db.query_pages(names.USERS, **query):
            found.extend(item["user_id"] for item in page.get("Items", []))
            if len(found) >= limit:
                return found[:limit]
    return found


def _account(user_id: str) -> dict[str, Any]:
    return account_state.read(user_id).item


def reschedule(user_id: str) -> None:
    """``holds_due`` moved to the next open hold's deadline, or removed (with the account's index entry) when none is
    left, on condition that ``holds_open`` is what was read: an admission in between (which found ``holds_due`` set and
    left it) refuses the write, so its hold is never left out of the index; the next run tries again."""
    item = _account(user_id)
    if not item:
        return
    deadlines = [res.deadline for res in (Reservation.from_hold(item, name) for name in item) if res is not None]
    update = Update()
    if names.HOLDS_OPEN in item:
        update.require(f"{update.name(names.HOLDS_OPEN)} = {update.value(item[names.HOLDS_OPEN])}")
    else:
        update.require(f"attribute_not_exists({update.name(names.HOLDS_OPEN)})")
    if deadlines:
        if min(deadlines) == item.get(names.HOLDS_DUE):
            return
        update.set(names.HOLDS_DUE, min(deadlines))
        update.set(names.HOLDS_SHARD, names.holds_shard(user_id))
    else:
        update.remove(names.HOLDS_DUE)
        update.remove(names.HOLDS_SHARD)
    try:
        db.client().update_item(**update.low_level(db.table_name(names.USERS), {"user_id": user_id}))
    except ClientError as exc:
        if not db.is_conditional_failure(exc):
            raise


def _sweep_account(user_id: str, now: float) -> int:
    item = _account(user_id)
    released = 0
    for name in list(item):
        res = Reservation.from_hold(item, name)
        if res is not None and res.deadline <= now and _release(res):
            released += 1
    reschedule(user_id)
    return released


def sweep(now: float | None = None, limit: int = 1000) -> int:
    """Release holds left open by crashed invocations: settle each at cost 0 with an error usage record (a settle
    racing the sweep still wins exactly once: the settle transaction is conditional on the hold). The accounts come
    from the holds-due index; holds taken before holds carried their own fields, from their markers (each visited once;
    the markers of requests that settled are skipped after one read of their account). Returns the holds released."""
    now = now_ts() if now is None else now
    released = 0
    found = expired_reservations(now, limit)
    for res in _still_held(found):
        released += _release(res)
    if found:
        _advance_cursor(found[-1])
    for user_id in due_accounts(now, limit):
        released += _sweep_account(user_id, now)
    return released
