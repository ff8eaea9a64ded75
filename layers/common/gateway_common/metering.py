"""Metering and money for AI requests: reserve before the upstream call, settle exactly once after it.

Reservation (one TransactWriteItems, run in the same parallel round trip as the rate-limit counters):
  * prepaid plans  -> UsersTable: ``available -= c, reserved += c`` on condition ``available >= c`` (else 402);
  * AI-included    -> the key's monthly spend counter (below): ``budget_left -= c, reserved_cost += c`` on condition
                      ``attribute_not_exists(budget_left) OR budget_left >= c`` (else 402 "Monthly budget exceeded");
  * plus the reservation item in ReservationsTable (``reservation_id`` = request id), which carries ``open_shard="open"``
    and ``deadline`` while open (sparse index ``open-by-deadline``: the sweep finds expired ones with one Query).
Amounts are exact Decimals (price x tokens, never rounded), so the usage records add up to the balance change.
``c`` is the request's maximum cost: estimated prompt tokens + max_tokens (capped by the model's output limit) at the
catalog price, in the plan's currency. Sandbox keys and free models reserve nothing ("free" mode).

Settle (one TransactWriteItems, exactly once): close the reservation (condition: ``open_shard`` still exists), give back
``c - actual`` (credits: ``available += c - actual, reserved -= c``; budget: ``budget_left += c - actual,
reserved_cost -= c``), Put the usage record (conditional), and add to the monthly spend counter. A second settle of
the same reservation finds it closed and changes nothing. So at any quiet moment:
``available + reserved = credits added - sum(usage.cost)``.

Monthly spend counter per key, CountersTable item ``spend#<key_id>#month#<YYYYMM>`` (YYYYMM of
``ratelimit.window_bounds("month", ts)``), all numbers:
  * ``cost``          settled cost this month, Decimal in the plan's currency (failed calls add 0);
  * ``requests``      settled requests (any status), ``tokens`` total tokens, ``latency_ms`` summed latency;
  * ``reserved_cost`` cost held by open reservations (AI-included plans only);
  * ``budget_left``   monthly_budget - cost - reserved_cost, set on the month's first reservation from the plan's budget
                      (AI-included plans only; DynamoDB conditions cannot add, so the remainder is kept as its own
                      attribute and compared with ``c``);
  * ``expires_at``    TTL, 40 days after the month ends.
The actual cost can exceed ``c`` only when the provider counts more prompt tokens than our generous estimate
(about 3 characters a token); then the balance can dip below zero by that difference, never more.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from botocore.exceptions import ClientError

from . import db, ratelimit, usage
from .dynamo_types import serialize_item
from .errors import PaymentRequired
from .parallel import Step
from .timeutil import iso_now, now_ts

RESERVATIONS = "ReservationsTable"
COUNTERS = "CountersTable"
USERS = "UsersTable"
OPEN_INDEX = "open-by-deadline"
RESERVATION_SECONDS = 900  # a reservation older than this belongs to a crashed invocation; the sweep releases it
_SPEND_TTL = 40 * 86400
_CONFLICT_RETRIES = 6

Mode = Literal["credits", "budget", "free"]


def spend_counter_id(key_id: str, ts: float | None = None) -> str:
    month, _ = ratelimit.window_bounds("month", now_ts() if ts is None else ts)
    return f"spend#{key_id}#month#{month}"


def _n(value: Decimal | int) -> dict[str, str]:
    return {"N": str(value)}


@dataclass
class Reservation:
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

    @property
    def counter_id(self) -> str:
        return spend_counter_id(self.key_id, self.ts)

    @property
    def deadline(self) -> int:
        return int(self.ts) + RESERVATION_SECONDS

    def item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "reservation_id": self.reservation_id, "user_id": self.user_id, "key_id": self.key_id,
            "plan_id": self.plan_id, "mode": self.mode, "amount": self.amount, "currency": self.currency,
            "endpoint": self.endpoint, "model": self.model, "created_at": self.created_at, "ts": Decimal(str(self.ts)),
            "state": "open", "open_shard": "open", "deadline": self.deadline, "expires_at": self.deadline + 30 * 86400,
        }
        if self.budget is not None:
            item["budget"] = self.budget
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Reservation:
        return cls(
            reservation_id=item["reservation_id"], user_id=item["user_id"], key_id=item["key_id"],
            plan_id=int(item["plan_id"]), mode=item["mode"], amount=Decimal(item["amount"]), currency=item["currency"],
            endpoint=item["endpoint"], model=item["model"], created_at=item["created_at"], ts=float(item["ts"]),
            budget=Decimal(item["budget"]) if item.get("budget") is not None else None,
        )


def _transact(items: list[dict[str, Any]]) -> list[str] | None:
    """Run a transaction, retrying conflicts with other writers of the same hot items. None on success, else the
    cancellation reason codes (a condition failed)."""
    for attempt in range(_CONFLICT_RETRIES):
        try:
            db.client().transact_write_items(TransactItems=items)
            return None
        except ClientError as exc:
            reasons = db.cancellation_reasons(exc)
            code = exc.response.get("Error", {}).get("Code", "")
            conflict = "TransactionConflict" in reasons or code in ("TransactionInProgressException", "ThrottlingException")
            if "ConditionalCheckFailed" in reasons:
                return reasons
            if not conflict or attempt + 1 == _CONFLICT_RETRIES:
                raise
            time.sleep(0.005 * (2**attempt))
    return None


def _put_reservation(res: Reservation) -> dict[str, Any]:
    return {"Put": {
        "TableName": db.table_name(RESERVATIONS),
        "Item": serialize_item(res.item()),
        "ConditionExpression": "attribute_not_exists(reservation_id)",
    }}


def _hold_items(res: Reservation) -> list[dict[str, Any]]:
    if res.mode == "credits":
        return [{"Update": {
            "TableName": db.table_name(USERS),
            "Key": {"user_id": {"S": res.user_id}},
            "UpdateExpression": "SET available = available - :c, reserved = if_not_exists(reserved, :zero) + :c",
            "ConditionExpression": "attribute_exists(user_id) AND available >= :c",
            "ExpressionAttributeValues": {":c": _n(res.amount), ":zero": _n(0)},
        }}]
    _, reset = ratelimit.window_bounds("month", res.ts)
    return [{"Update": {
        "TableName": db.table_name(COUNTERS),
        "Key": {"counter_id": {"S": res.counter_id}},
        "UpdateExpression": "SET budget_left = if_not_exists(budget_left, :budget) - :c, "
                            "reserved_cost = if_not_exists(reserved_cost, :zero) + :c, "
                            "expires_at = if_not_exists(expires_at, :exp)",
        "ConditionExpression": "attribute_not_exists(budget_left) OR budget_left >= :c",
        "ExpressionAttributeValues": {":c": _n(res.amount), ":zero": _n(0), ":budget": _n(res.budget or 0),
                                      ":exp": _n(reset + _SPEND_TTL)},
    }}]


def _refusal(res: Reservation) -> PaymentRequired:
    if res.mode == "budget":
        return PaymentRequired(
            f"Monthly budget exceeded: this request can cost up to {res.amount} {res.currency.upper()} and what is left of "
            f"this month's {res.budget} {res.currency.upper()} budget does not cover it. Lower max_tokens or wait for the "
            "next month.",
            code="budget_exceeded",
        )
    return PaymentRequired(
        f"Insufficient credits: this request can cost up to {res.amount} {res.currency.upper()} ({res.model}, prompt "
        "estimate + max_tokens) and your available credits do not cover it. Add credits or lower max_tokens.",
        code="insufficient_credits",
    )


def reserve(res: Reservation) -> Reservation:
    """Hold the maximum cost (one transaction). PaymentRequired when it does not fit."""
    if res.mode == "free":
        return res
    if res.mode == "budget" and res.budget is not None and res.amount > res.budget:
        raise _refusal(res)
    reasons = _transact([*_hold_items(res), _put_reservation(res)])
    if reasons is not None:
        raise _refusal(res)
    return res


def release_hold(res: Reservation) -> None:
    """Undo a reservation that was never used (another admission step refused the request): no usage record."""
    if res.mode == "free":
        return
    items: list[dict[str, Any]] = [{"Delete": {
        "TableName": db.table_name(RESERVATIONS),
        "Key": {"reservation_id": {"S": res.reservation_id}},
        "ConditionExpression": "attribute_exists(open_shard)",
    }}]
    items.append(_give_back(res, Decimal("0"), count=False))
    _transact(items)


def reservation_step(res: Reservation) -> Step:
    """The reservation as a step of the admission round trip (undone when a rate limit refuses the request)."""
    return Step(run=lambda: reserve(res), undo=lambda _: release_hold(res))


def _give_back(res: Reservation, actual: Decimal, *, count: bool = True, tokens: int = 0, latency_ms: int = 0) -> dict[str, Any]:
    """The update that returns ``amount - actual`` to where it was held (and counts the request when ``count``)."""
    if res.mode == "credits":
        return {"Update": {
            "TableName": db.table_name(USERS),
            "Key": {"user_id": {"S": res.user_id}},
            "UpdateExpression": "ADD available :back, reserved :minus",
            "ConditionExpression": "attribute_exists(user_id)",
            "ExpressionAttributeValues": {":back": _n(res.amount - actual), ":minus": _n(-res.amount)},
        }}
    update = "ADD reserved_cost :minus, budget_left :back"
    values: dict[str, Any] = {":minus": _n(-res.amount), ":back": _n(res.amount - actual)}
    if count:
        update += ", cost :cost, requests :one, tokens :tokens, latency_ms :lat"
        values.update({":cost": _n(actual), ":one": _n(1), ":tokens": _n(tokens), ":lat": _n(latency_ms)})
    return {"Update": {"TableName": db.table_name(COUNTERS), "Key": {"counter_id": {"S": res.counter_id}},
                       "UpdateExpression": update, "ExpressionAttributeValues": values}}


def _spend_update(res: Reservation, record: usage.UsageRecord) -> dict[str, Any]:
    _, reset = ratelimit.window_bounds("month", res.ts)
    return {"Update": {
        "TableName": db.table_name(COUNTERS),
        "Key": {"counter_id": {"S": res.counter_id}},
        "UpdateExpression": "ADD cost :cost, requests :one, tokens :tokens, latency_ms :lat "
                            "SET expires_at = if_not_exists(expires_at, :exp)",
        "ExpressionAttributeValues": {":cost": _n(record.cost), ":one": _n(1), ":tokens": _n(record.total_tokens),
                                      ":lat": _n(record.latency_ms), ":exp": _n(reset + _SPEND_TTL)},
    }}


def settle(res: Reservation, record: usage.UsageRecord, extra_items: list[dict[str, Any]] | None = None) -> bool:
    """Charge ``record.cost`` against the reservation, write the usage record and the spend counter, exactly once.

    Returns False when this reservation was already settled (a retried settle): nothing changes then.
    """
    items: list[dict[str, Any]] = []
    if res.mode != "free":
        items.append({"Update": {
            "TableName": db.table_name(RESERVATIONS),
            "Key": {"reservation_id": {"S": res.reservation_id}},
            "UpdateExpression": "SET #s = :settled, settled_at = :now, actual = :actual REMOVE open_shard",
            "ConditionExpression": "attribute_exists(open_shard)",
            "ExpressionAttributeNames": {"#s": "state"},
            "ExpressionAttributeValues": {":settled": {"S": "settled"}, ":now": {"S": iso_now()}, ":actual": _n(record.cost)},
        }})
        items.append(_give_back(res, record.cost, tokens=record.total_tokens, latency_ms=record.latency_ms))
    if res.mode != "budget":
        items.append(_spend_update(res, record))
    items.append(usage.transaction_put(record))
    items.extend(extra_items or [])
    reasons = _transact(items)
    if reasons is None:
        return True
    if res.mode != "free" and reasons[0] == "ConditionalCheckFailed":
        return False
    if res.mode == "free" and reasons[len(items) - 1 - len(extra_items or [])] == "ConditionalCheckFailed":
        return False  # the usage record of this request exists already
    raise RuntimeError(f"settle of {res.reservation_id} was refused: {reasons}")


def expired_reservations(now: float | None = None, limit: int = 100) -> list[Reservation]:
    now = now_ts() if now is None else now
    out = db.table(RESERVATIONS).query(
        IndexName=OPEN_INDEX,
        KeyConditionExpression="open_shard = :o AND deadline <= :now",
        ExpressionAttributeValues={":o": "open", ":now": int(now)},
        Limit=limit,
    )
    return [Reservation.from_item(item) for item in out.get("Items", [])]


def sweep(now: float | None = None, limit: int = 100) -> int:
    """Release reservations left open by crashed invocations: settle each at cost 0 with an error usage record."""
    released = 0
    for res in expired_reservations(now, limit):
        record = usage.UsageRecord(
            user_id=res.user_id, request_id=res.reservation_id, key_id=res.key_id, plan_id=res.plan_id,
            endpoint=res.endpoint, model=res.model, provider="unknown", route="", cost=Decimal("0"),
            currency=res.currency, status="error", http_status=500, estimated=True, created_at=res.created_at,
        )
        if settle(res, record):
            released += 1
    return released
