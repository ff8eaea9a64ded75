"""Stripe subscriptions -> the account's plan. Stripe Billing is the engine; this module only follows it.

What it keeps true:
- A paid plan is applied only from a subscription Stripe reports ``active`` (its invoice paid): never when a request
  is made. ``incomplete`` and ``trialing`` (nothing paid) change nothing.
- Each subscription's latest state is one BillingTable item ``SUB#<id>`` / ``SUBSCRIPTION``, written only by a newer
  ``version`` (a conditional write), so deliveries in any order, and any number of times, end in the same state.
  ``version`` orders by the event's ``created`` second, then the subscription's own latest timestamp (start, period
  start, cancel, end), then the status's place in the lifecycle (incomplete < active < past_due < canceled): a late
  ``updated`` never overwrites a newer one.
- ``users.plan_id`` changes only in ``reconcile``: one transaction with the user (conditional on the plan read), the
  state item (conditional on the version read) and the audit entry ``plan_changed`` naming the Stripe event.
- Rules, from the stored state and the clock:
  * ``active``: the subscription's plan. An upgrade applies at once (the change reaches Stripe's subscription only
    once its proration invoice is paid: ``payment_behavior=pending_if_incomplete``). A downgrade applies at
    ``paid_through``, the end of the last period paid at the higher plan.
  * ``past_due`` / ``unpaid``: the plan stays for the grace period (setting ``PAST_DUE_GRACE_DAYS``, 3 days) from the
    first failed renewal, then Free.
  * ``canceled`` / ``incomplete_expired`` / ``paused``: Free at the end of the paid period (or at the grace end of a
    past_due that led there, whichever is first).
  A transition due later is kept on the state item in the sparse index ``SUBS#due`` / ``<due, 12 digits>``; the
  scheduled job (``apply_due``) applies it then, as does any event for the subscription after that moment.
- A trial converts when its account's first subscription applies a paid plan (``trial_converted``); it keeps the
  trial credits it has.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from . import audit, billing, db, plans, users
from .dynamo_types import serialize
from .errors import ServiceUnavailable
from .models import UserRecord
from .observability import logger
from .settings import get_settings
from .timeutil import iso_now, now_ts

DUE_INDEX = "SUBS#due"
RANK = {"incomplete": 0, "trialing": 1, "incomplete_expired": 2, "active": 3, "past_due": 4, "unpaid": 5, "paused": 5,
        "canceled": 6}
LAPSED = ("canceled", "incomplete_expired", "paused")
OVERDUE = ("past_due", "unpaid")
_RETRIES = 6


class SubState(BaseModel):
    subscription_id: str
    user_id: str
    customer_id: str | None = None
    status: str
    price_id: str
    item_id: str | None = None  # the subscription item whose Price a plan change replaces
    plan_id: int | None = None  # the paid plan of price_id (None: a price this deployment does not sell)
    currency: str = "usd"
    amount_cents: int = 0
    period_start: int = 0
    period_end: int = 0
    cancel_at_period_end: bool = False
    version: str
    event_id: str
    past_due_since: int | None = None
    paid_through: int | None = None  # end of the last period paid at the plan applied
    due_at: int | None = None

    @classmethod
    def of(cls, item: dict[str, Any]) -> SubState:
        return cls.model_validate({k: v for k, v in item.items() if k in cls.model_fields})


def _pk(subscription_id: str) -> str:
    return f"SUB#{subscription_id}"


def get(subscription_id: str) -> SubState | None:
    item = billing.get(_pk(subscription_id), "SUBSCRIPTION")
    return SubState.of(item) if item else None


def _items(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("items") or {}).get("data") or [])


def version_of(event_created: int, obj: dict[str, Any]) -> str:
    item = (_items(obj) or [{}])[0]
    own = max(int(obj.get(name) or 0) for name in ("created", "start_date", "canceled_at", "ended_at"))
    own = max(own, int(item.get("current_period_start") or obj.get("current_period_start") or 0))
    return f"{event_created:012d}.{own:012d}.{RANK.get(str(obj['status']), 0)}"


def record(*, event_id: str, event_created: int, obj: dict[str, Any], user_id: str) -> bool:
    """Store the subscription ``obj`` (from an event) if it is newer than the stored state; False for a stale one."""
    item = _items(obj)[0]
    price = item["price"]
    plan = plans.plan_for_price(str(price["id"]))
    status = str(obj["status"])
    version = version_of(event_created, obj)
    sets = {
        "user_id": user_id, "customer_id": billing_id(obj.get("customer")), "status": status, "price_id": str(price["id"]),
        "currency": str(price.get("currency") or obj.get("currency") or "usd").lower(),
        "amount_cents": int(price.get("unit_amount") or 0) * int(item.get("quantity") or 1),
        "period_start": int(item.get("current_period_start") or obj.get("current_period_start") or 0),
        "period_end": int(item.get("current_period_end") or obj.get("current_period_end") or 0),
        "cancel_at_period_end": bool(obj.get("cancel_at_period_end")), "version": version, "event_id": event_id,
        "subscription_id": str(obj["id"]), "updated_at": iso_now(),
        "item_id": str(item["id"]) if item.get("id") else None,
    }
    if plan is not None:
        sets["plan_id"] = plan.id
    present = [(name, value) for name, value in sets.items() if value is not None]
    names = {f"#a{i}": name for i, (name, _) in enumerate(present)}
    values = {f":a{i}": value for i, (_, value) in enumerate(present)}
    clauses = [f"#a{i} = :a{i}" for i in range(len(present))]
    update = "SET " + ", ".join(clauses)
    if status in OVERDUE:
        update += ", past_due_since = if_not_exists(past_due_since, :pd)"
        values[":pd"] = event_created
    elif status == "active":
        update += " REMOVE past_due_since"
    if plan is None:
        update += (", " if "REMOVE" in update else " REMOVE ") + "plan_id"
        logger.warning("subscription to a price this deployment does not sell", extra={"price_id": price["id"]})
    values[":v"] = version
    op = billing.transact_update(_pk(str(obj["id"])), "SUBSCRIPTION", update,
                                 condition="attribute_not_exists(version) OR version < :v", names=names, vals=values)
    try:
        billing.write([op, audit.transaction_put(
            user_id=user_id, action="subscription_updated", resource_type="subscription", resource_id=str(obj["id"]),
            details={"status": status, "price_id": str(price["id"]), "plan_id": plan.id if plan else None,
                     "cancel_at_period_end": bool(obj.get("cancel_at_period_end")), "stripe_event_id": event_id},
        )])
    except ClientError as exc:
        if db.cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
            return False
        raise
    return True


def billing_id(value: Any) -> str | None:
    """A Stripe reference: an id string, or an expanded object with an id."""
    if isinstance(value, dict):
        return str(value.get("id")) if value.get("id") else None
    return str(value) if value else None


# ---------------------------------------------------------------- the rules


class Decision(BaseModel):
    plan_id: int
    status: str
    governs: bool  # this subscription sets the user's plan
    due_at: int | None = None  # a later transition to come back for
    paid_through: int | None = None
    reason: str = ""


def _cheaper(new: plans.Plan, old: plans.Plan) -> bool:
    return old.is_paid and new.currency == old.currency and new.monthly_price < old.monthly_price


def decide(s: SubState, user: UserRecord, now: float) -> Decision:
    free = plans.default_plan().id
    current = plans.get_plan(user.plan_id)
    governs = user.subscription_id == s.subscription_id or (s.status == "active" and s.plan_id is not None)
    keep = Decision(plan_id=user.plan_id, status=user.subscription_status, governs=governs, paid_through=s.paid_through)
    if not governs:
        return keep
    grace_end = int(s.past_due_since + get_settings().past_due_grace_days * 86400) if s.past_due_since else None
    if s.status == "active":
        if s.plan_id is None:
            return keep.model_copy(update={"status": "active"})
        target = plans.get_plan(s.plan_id)
        through = max(s.paid_through or 0, s.period_end)
        if target.id == current.id:
            return Decision(plan_id=target.id, status="active", governs=True, paid_through=through, reason="paid")
        if user.subscription_id == s.subscription_id and _cheaper(target, current) and (s.paid_through or 0) > now:
            return keep.model_copy(update={"status": "active", "due_at": s.paid_through, "reason": "downgrade"})
        kind = "downgrade" if _cheaper(target, current) else "upgrade" if current.is_paid else "paid"
        return Decision(plan_id=target.id, status="active", governs=True, paid_through=s.period_end, reason=kind)
    if s.status in OVERDUE:
        if grace_end is not None and now >= grace_end:
            return Decision(plan_id=free, status=s.status, governs=True, paid_through=s.paid_through,
                            reason="past_due_grace_ended")
        return keep.model_copy(update={"status": s.status, "due_at": grace_end})
    if s.status in LAPSED:
        ends = [t for t in (s.paid_through, grace_end) if t]
        end = min(ends) if ends else 0
        if now >= end:
            return Decision(plan_id=free, status=s.status, governs=True, paid_through=s.paid_through,
                            reason=f"subscription_{s.status}")
        return keep.model_copy(update={"status": s.status, "due_at": end})
    return keep  # incomplete, trialing: nothing paid, nothing changes


# ---------------------------------------------------------------- applying


def reconcile(subscription_id: str, now: float | None = None) -> str:
    """Bring the user's plan in line with the subscription's stored state (safe to run any number of times, in
    parallel): ``plan_changed``, ``status_changed``, ``scheduled`` or ``unchanged``."""
    for _ in range(_RETRIES):
        s = get(subscription_id)
        user = users.get_user(s.user_id) if s else None
        if s is None or user is None:
            return "unchanged"
        moment = now_ts() if now is None else now
        d = decide(s, user, moment)
        outcome = _apply(s, user, d)
        if outcome is not None:
            return outcome
    raise ServiceUnavailable(f"Subscription {subscription_id} is changing under contention; Stripe retries the event")


def _apply(s: SubState, user: UserRecord, d: Decision) -> str | None:
    plan_changes = d.governs and d.plan_id != user.plan_id
    status_changes = d.governs and (d.status != user.subscription_status or user.subscription_id != s.subscription_id)
    state_changes = d.due_at != s.due_at or d.paid_through != s.paid_through
    if not (plan_changes or status_changes or state_changes):
        return "unchanged"
    items: list[dict[str, Any]] = []
    vals: dict[str, Any] = {":v": s.version}
    sets: list[str] = []
    removes: list[str] = []
    if d.paid_through is not None:
        sets.append("paid_through = :pt")
        vals[":pt"] = d.paid_through
    else:
        removes.append("paid_through")
    if d.due_at is not None:
        sets.append("due_at = :due, gsi1pk = :gp, gsi1sk = :gs")
        vals.update({":due": d.due_at, ":gp": DUE_INDEX, ":gs": f"{d.due_at:012d}"})
    else:
        removes.append("due_at, gsi1pk, gsi1sk")
    update = " ".join(part for part in ("SET " + ", ".join(sets) if sets else "",
                                        "REMOVE " + ", ".join(removes) if removes else "") if part)
    items.append(billing.transact_update(_pk(s.subscription_id), "SUBSCRIPTION", update, condition="version = :v",
                                         vals=vals))
    if plan_changes or status_changes:
        items.append(_user_update(user, s, d, plan_changes))
        if plan_changes:
            items.append(audit.transaction_put(
                user_id=user.user_id, action="plan_changed", resource_type="plan", resource_id=user.user_id,
                details={"from_plan_id": user.plan_id, "to_plan_id": d.plan_id, "reason": d.reason,
                         "subscription_id": s.subscription_id, "subscription_status": s.status,
                         "stripe_event_id": s.event_id},
            ))
        converts = plan_changes and plans.get_plan(d.plan_id).is_paid and user.trial and user.trial.status == "active"
        if converts:
            assert user.trial is not None
            items.append({"Delete": {"TableName": db.table_name(billing.BILLING),
                                     "Key": billing.serialize(billing.key(f"USER#{user.user_id}", "TRIAL"))}})
            items.append(audit.transaction_put(
                user_id=user.user_id, action="trial_converted", resource_type="trial", resource_id=user.trial.trial_id,
                details={"plan_id": d.plan_id, "subscription_id": s.subscription_id, "stripe_event_id": s.event_id},
            ))
    try:
        billing.write(items)
    except ClientError as exc:
        if "ConditionalCheckFailed" in db.cancellation_reasons(exc):
            return None  # the state or the user moved meanwhile: decide again
        raise
    if plan_changes:
        logger.info("plan changed", extra={"user_id": user.user_id, "from": user.plan_id, "to": d.plan_id,
                                           "reason": d.reason})
        return "plan_changed"
    return "status_changed" if status_changes else "scheduled"


def _user_update(user: UserRecord, s: SubState, d: Decision, plan_changes: bool) -> dict[str, Any]:
    sets = ["subscription_status = :st", "subscription_id = :sid"]
    vals: dict[str, Any] = {":st": serialize(d.status), ":sid": serialize(s.subscription_id),
                            ":oldp": serialize(user.plan_id)}
    names: dict[str, str] = {}
    if plan_changes:
        sets += ["plan_id = :p", "plan_started_at = :now"]
        vals.update({":p": serialize(d.plan_id), ":now": serialize(iso_now())})
        if plans.get_plan(d.plan_id).is_paid and user.trial and user.trial.status == "active":
            sets.append("trial.#ts = :conv")
            names["#ts"] = "status"
            vals[":conv"] = serialize("converted")
    condition = "plan_id = :oldp AND " + ("subscription_id = :oldsid" if user.subscription_id else
                                         "attribute_not_exists(subscription_id)")
    if user.subscription_id:
        vals[":oldsid"] = serialize(user.subscription_id)
    op: dict[str, Any] = {"TableName": db.table_name(users.USERS), "Key": {"user_id": {"S": user.user_id}},
                          "UpdateExpression": "SET " + ", ".join(sets), "ConditionExpression": condition,
                          "ExpressionAttributeValues": vals}
    if names:
        op["ExpressionAttributeNames"] = names
    return {"Update": op}


def apply_due(now: float | None = None) -> list[str]:
    """Apply every transition whose time has come (the scheduled job); returns the subscription ids changed."""
    moment = now_ts() if now is None else now
    changed = []
    for item in list(billing.query_gsi1(DUE_INDEX, upper=f"{int(moment):012d}", newest_first=False)):
        if reconcile(str(item["subscription_id"]), moment) == "plan_changed":
            changed.append(str(item["subscription_id"]))
    return changed


def of_user(user: UserRecord) -> SubState | None:
    return get(user.subscription_id) if user.subscription_id else None
