"""Free trials: start (one per user, ever), status, convert to a plan, and the scheduled expiry.

A trial (seed 000): 3 days, 10.00 credits, 1000 AI requests. The credits are the ledger entry ``trial:<user_id>``,
so a user can never receive them twice. While the trial is active, ``trials.admission_steps`` counts its requests and
refuses AI calls after its end (402, "trial ended"). The scheduled job closes trials past their end: it removes the
trial credits not spent (ledger entry ``trial:<user_id>:expired``, never more than the available balance) and marks the
trial ``expired``; credits bought with money stay. A trial converts only through payment (a Stripe subscription
becoming active, see ``subscriptions.py``); a converted trial keeps the trial credits it has.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from . import audit, billing, db, ledger, plans, trials, users
from .dynamo_items import to_item
from .dynamo_types import serialize
from .errors import BadRequest, Conflict
from .models import TrialInfo, UserRecord
from .observability import logger
from .timeutil import iso, iso_now, now_ts

TRIAL_DAYS = 3
TRIAL_CREDITS = Decimal("10.00")
TRIAL_REQUESTS = 1000
ACTIVE_INDEX = "TRIALS#active"


def _v(value: Any) -> dict[str, Any]:
    return serialize(to_item({"v": value})["v"])


def _schedule_pk(user_id: str) -> dict[str, Any]:
    return billing.serialize(billing.key(f"USER#{user_id}", "TRIAL"))


def end_date(trial: TrialInfo) -> str:
    return iso(datetime.fromtimestamp(trial.ends_at, tz=UTC))


def start(user: UserRecord, trial_type: str, *, meta: dict[str, str | None]) -> TrialInfo:
    if user.trial is not None:
        raise Conflict("You have already used your free trial: one trial per account", code="trial_already_used")
    plan = plans.get_plan(user.plan_id)
    if plan.plan_type != "free":
        # A trial caps requests and refuses AI calls after its end: never impose that on an account already paying.
        raise Conflict(f"Free trials are for accounts on the Free plan; yours is on the {plan.plan_name} plan",
                       code="trial_not_available")
    now = now_ts()
    trial = TrialInfo(
        trial_id="trial_" + secrets.token_hex(8), trial_type=trial_type, started_at=iso_now(),
        ends_at=int((datetime.fromtimestamp(now, tz=UTC) + timedelta(days=TRIAL_DAYS)).timestamp()),
        credits=TRIAL_CREDITS, max_requests=TRIAL_REQUESTS,
    )
    # The credits first (idempotent by entry id, so a retry after a crash here cannot credit twice), then the trial
    # itself, conditional on the user never having had one, together with its entry in the expiry schedule.
    ledger.credit(
        user_id=user.user_id, amount=TRIAL_CREDITS, entry_id=f"trial:{user.user_id}", reason="free trial credits",
        currency=user.currency, audit_action="trial_started",
        details={"trial_id": trial.trial_id, "trial_type": trial_type}, **meta,
    )
    try:
        audit.transact([
            {"Update": {
                "TableName": db.table_name(users.USERS), "Key": {"user_id": {"S": user.user_id}},
                "UpdateExpression": "SET trial = :t, subscription_status = :s",
                "ConditionExpression": "attribute_exists(user_id) AND attribute_not_exists(trial)",
                "ExpressionAttributeValues": {":t": _v(trial.model_dump()), ":s": {"S": "trial"}},
            }},
            billing.transact_put({"pk": f"USER#{user.user_id}", "sk": "TRIAL", "user_id": user.user_id,
                                  "trial_id": trial.trial_id, "ends_at": trial.ends_at,
                                  "gsi1pk": ACTIVE_INDEX, "gsi1sk": f"{trial.ends_at:012d}"}, condition=None),
        ])
    except ClientError as exc:
        if db.cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
            raise Conflict("You have already used your free trial: one trial per account",
                           code="trial_already_used") from None
        raise
    return trial


def spent_since(user_id: str, since: str, until: str) -> Decimal:
    """Usage costs of a user between two ISO times (the trial's period)."""
    from . import usage

    items = db.query_items(
        usage.USAGE,
        KeyConditionExpression="user_id = :u AND sk BETWEEN :s AND :e",
        ExpressionAttributeValues={":u": user_id, ":s": since, ":e": until + "\uffff"},
        ProjectionExpression="#c",
        ExpressionAttributeNames={"#c": "cost"},
    )
    return sum((Decimal(str(i.get("cost", 0))) for i in items), Decimal("0"))


def remaining_credits(user: UserRecord) -> Decimal:
    trial = user.trial
    if trial is None:
        return Decimal("0")
    unspent = trial.credits - spent_since(user.user_id, trial.started_at, end_date(trial))
    return max(min(unspent, user.available), Decimal("0"))


def status(user: UserRecord) -> dict[str, Any] | None:
    trial = user.trial
    if trial is None:
        return None
    active = trial.status == "active" and trial.ends_at > now_ts()
    used = trials.requests_used(user)
    return {
        "trial_id": trial.trial_id,
        "trial_type": trial.trial_type,
        "status": trial.status if trial.status != "active" or active else "expired",
        "is_active": active,
        "remaining_credits": remaining_credits(user) if active else Decimal("0"),
        "remaining_requests": max(trial.max_requests - used, 0) if active else 0,
        "requests_used": used,
        "credits": trial.credits,
        "max_requests": trial.max_requests,
        "start_date": trial.started_at,
        "end_date": end_date(trial),
    }


def check_convertible(user: UserRecord) -> TrialInfo:
    """The trial a conversion would convert. Converting itself happens only through payment: the subscription bought
    for it becomes active (``subscriptions.reconcile`` marks the trial converted and keeps its credits)."""
    trial = user.trial
    if trial is None:
        raise BadRequest("You have no trial to convert: start one with POST /trials/start")
    if trial.status == "converted":
        raise Conflict("Your trial was already converted", code="trial_already_converted")
    return trial


def expire_due(now: float | None = None) -> list[str]:
    """Close every active trial whose end has passed; returns the user ids. Safe to run concurrently and repeatedly."""
    moment = now_ts() if now is None else now
    closed = []
    for item in list(billing.query_gsi1(ACTIVE_INDEX, upper=f"{int(moment):012d}", newest_first=False)):
        if expire_one(str(item["user_id"]), str(item["trial_id"]), moment):
            closed.append(str(item["user_id"]))
    return closed


def expire_one(user_id: str, trial_id: str, moment: float) -> bool:
    user = users.get_user(user_id)
    trial = user.trial if user else None
    if user is None or trial is None or trial.trial_id != trial_id or trial.status != "active" or trial.ends_at > moment:
        if user is None or trial is None or trial.trial_id != trial_id or trial.status != "active":
            db.client().delete_item(TableName=db.table_name(billing.BILLING), Key=_schedule_pk(user_id))
        return False
    unspent = remaining_credits(user)
    if unspent > 0:
        # Only while the trial is still scheduled: converting deletes the schedule item in its own transaction, so a
        # conversion that commits between the read above and this write keeps its credits.
        still_scheduled = billing.transact_update(
            f"USER#{user_id}", "TRIAL", "SET credits_removed = :r",
            condition="attribute_exists(pk) AND trial_id = :tid", vals={":r": unspent, ":tid": trial_id},
        )
        try:
            ledger.credit(
                user_id=user_id, amount=-unspent, entry_id=f"trial:{user_id}:expired", reason="unused trial credits expired",
                currency=user.currency, actor_id="system", audit_action="trial_credits_expired",
                details={"trial_id": trial_id}, extra_transact_items=[still_scheduled],
            )
        except ledger.ExtraItemRefused:
            return False  # converted (or closed) meanwhile
    try:
        audit.transact([
            {"Update": {
                "TableName": db.table_name(users.USERS), "Key": {"user_id": {"S": user_id}},
                "UpdateExpression": "SET trial.#st = :exp, subscription_status = :exp",
                "ConditionExpression": "trial.trial_id = :tid AND trial.#st = :active",
                "ExpressionAttributeNames": {"#st": "status"},
                "ExpressionAttributeValues": {":exp": {"S": "expired"}, ":tid": {"S": trial_id}, ":active": {"S": "active"}},
            }},
            {"Delete": {"TableName": db.table_name(billing.BILLING), "Key": _schedule_pk(user_id)}},
            audit.transaction_put(
                user_id="system", action="trial_expired", resource_type="trial", resource_id=trial_id,
                details={"user_id": user_id, "credits_removed": str(unspent)},
            ),
        ])
    except ClientError as exc:
        if db.cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
            return False  # converted (or closed) meanwhile
        raise
    logger.info("trial expired", extra={"user_id": user_id, "trial_id": trial_id})
    return True
