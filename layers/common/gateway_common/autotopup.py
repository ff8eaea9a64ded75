"""Auto top-up: when a settle takes the balance below the user's threshold, charge the saved card once.

The rule lives on the user item (``auto_topup`` map, see ``models.AutoTopup``). What it keeps true:
- One PaymentIntent per crossing. A crossing is numbered: the settle that finds the balance below the threshold while
  the rule is ``armed`` writes ``armed = false, crossing = n + 1, pending = n + 1`` on condition ``armed = true AND
  crossing = n``, together with the item ``TOPUP#<user>#<n+1>`` (``attribute_not_exists``) and its audit entry. Of
  any number of parallel settles only one write succeeds, whatever the balances each one saw; only that one calls
  Stripe, with the idempotency key ``autotopup:<user>:<n+1>``.
- The credits arrive through the webhook like any payment (``payment_intent.succeeded``, ledger entry
  ``stripe:<pi>``); that event re-arms the rule. A failure (the card declined at once, or ``payment_intent.payment_failed``)
  also re-arms it and counts; each crossing's result counts once (condition ``pending = n``). After 3 failures in a
  row the rule turns itself off, with an audit entry and an activity event saying why.
- Never for sandbox keys (they are never charged, so they never cross anything).
- A Stripe error that leaves unknown whether the PaymentIntent exists (network, Stripe 5xx) keeps the crossing pending:
  its webhook event settles it if it was created; saving the rule again re-arms it otherwise.
The settle path calls ``after_settle``; when the caller's cached user record says the rule is off it costs nothing,
otherwise one consistent read of the user (the cache bound, 30 s, is how late a newly enabled rule may start).
"""

from __future__ import annotations

import json
import secrets
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from . import audit, billing, db, users
from .dynamo_items import to_item
from .dynamo_types import serialize
from .errors import Conflict
from .models import AutoTopup, UserRecord
from .observability import logger
from .timeutil import iso_now, now_ts

MAX_FAILURES = 3
ACTIVITY = "ActivityTable"
_ACTIVITY_RETENTION = 400 * 86400


def _user_key(user_id: str) -> dict[str, Any]:
    return {"user_id": {"S": user_id}}


def after_settle(user_id: str, balance: Decimal | None, *, sandbox: bool, hint: UserRecord | None = None) -> str | None:
    """Called after every successful settle. Starts at most one top-up per crossing; never raises (a top-up problem
    must not fail the request that was served). Returns the PaymentIntent id when this call started one."""
    if sandbox or (hint is not None and (hint.auto_topup is None or not hint.auto_topup.enabled)):
        return None
    try:
        return _after_settle(user_id, balance)
    except Exception:  # noqa: BLE001 - logged; the served request stays served
        logger.exception("auto top-up check failed", extra={"user_id": user_id})
        return None


def _after_settle(user_id: str, balance: Decimal | None) -> str | None:
    user = users.get_user(user_id)
    rule = user.auto_topup if user else None
    if user is None or rule is None or not rule.enabled or not rule.armed or not rule.payment_method:
        return None
    available = user.available if balance is None else balance
    if available >= rule.threshold:
        return None
    crossing = rule.crossing + 1
    if not _claim(user, rule, crossing, available):
        return None
    return _charge(user, rule, crossing)


def _claim(user: UserRecord, rule: AutoTopup, crossing: int, balance: Decimal) -> bool:
    """The conditional write keyed on the crossing: True for exactly one caller per crossing."""
    try:
        audit.transact([  # chains the audit entry (same transaction)
            {"Update": {
                "TableName": db.table_name(users.USERS), "Key": _user_key(user.user_id),
                "UpdateExpression": "SET auto_topup.armed = :f, auto_topup.crossing = :n, auto_topup.pending = :n",
                "ConditionExpression": "auto_topup.enabled = :t AND auto_topup.armed = :t AND auto_topup.crossing = :c",
                "ExpressionAttributeValues": {":f": {"BOOL": False}, ":t": {"BOOL": True}, ":n": {"N": str(crossing)},
                                              ":c": {"N": str(rule.crossing)}},
            }},
            billing.transact_put({"pk": f"TOPUP#{user.user_id}#{crossing}", "sk": "TOPUP", "user_id": user.user_id,
                                  "crossing": crossing, "balance": balance, "threshold": rule.threshold,
                                  "amount": rule.amount, "currency": user.currency, "created_at": iso_now()}),
            audit.transaction_put(
                user_id=user.user_id, action="auto_topup_started", resource_type="auto_topup", resource_id=user.user_id,
                details={"crossing": crossing, "balance": str(balance), "threshold": str(rule.threshold),
                         "amount": str(rule.amount), "currency": user.currency},
            ),
        ])
    except ClientError as exc:
        if "ConditionalCheckFailed" in db.cancellation_reasons(exc):
            return False  # another settle claimed this crossing (or the rule changed)
        raise
    return True


def _charge(user: UserRecord, rule: AutoTopup, crossing: int) -> str | None:
    import stripe

    from . import stripe_client

    cents = int((rule.amount * 100).to_integral_value())
    params = {
        "amount": cents, "currency": user.currency, "customer": user.stripe_customer_id,
        "payment_method": rule.payment_method, "off_session": True, "confirm": True,
        "description": f"{rule.amount} AI Gateway credits (auto top-up)",
        "metadata": {"user_id": user.user_id, "credits": str(rule.amount), "currency": user.currency,
                     "auto_topup": str(crossing)},
    }
    try:
        intent = stripe_client.client().v1.payment_intents.create(
            params=params, options={"idempotency_key": f"autotopup:{user.user_id}:{crossing}"})
    except (stripe.APIConnectionError, stripe.APIError) as exc:
        logger.error("auto top-up outcome unknown; left pending", extra={"user_id": user.user_id, "error": type(exc).__name__})
        return None
    except stripe.StripeError as exc:
        reason = exc.user_message or exc.code or type(exc).__name__
        record_result(user.user_id, crossing, succeeded=False, reason=str(reason))
        return None
    except Exception as exc:  # noqa: BLE001 - e.g. payments not configured: a failure of this top-up
        record_result(user.user_id, crossing, succeeded=False, reason=str(getattr(exc, "message", type(exc).__name__)))
        return None
    logger.info("auto top-up started", extra={"user_id": user.user_id, "crossing": crossing, "payment_intent": intent.id})
    return str(intent.id)


def record_result(user_id: str, crossing: int, *, succeeded: bool, reason: str = "") -> str:
    """The result of crossing ``crossing``'s PaymentIntent, applied once: re-arm, count failures, turn off at 3."""
    update = "SET auto_topup.armed = :t, auto_topup.failures = " + (":zero" if succeeded else "auto_topup.failures + :one")
    update += " REMOVE auto_topup.pending"
    vals: dict[str, Any] = {":t": {"BOOL": True}, ":n": {"N": str(crossing)}}
    vals.update({":zero": {"N": "0"}} if succeeded else {":one": {"N": "1"}})
    try:
        out = db.client().update_item(
            TableName=db.table_name(users.USERS), Key=_user_key(user_id), UpdateExpression=update,
            ConditionExpression="auto_topup.pending = :n", ExpressionAttributeValues=vals, ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if db.is_conditional_failure(exc):
            return "already_recorded"
        raise
    if succeeded:
        return "topup_succeeded"
    failures = int(out["Attributes"]["auto_topup"]["M"]["failures"]["N"])
    if failures >= MAX_FAILURES:
        _turn_off(user_id, failures, reason)
        return "topup_failed_disabled"
    return "topup_failed"


def _turn_off(user_id: str, failures: int, reason: str) -> None:
    why = f"Auto top-up turned off after {failures} failed top-ups in a row (last: {reason or 'declined'})"
    now = iso_now()
    activity_id = "activity_" + secrets.token_hex(8)
    try:
        audit.transact([  # chains the audit entry (same transaction)
            {"Update": {
                "TableName": db.table_name(users.USERS), "Key": _user_key(user_id),
                "UpdateExpression": "SET auto_topup.enabled = :f, auto_topup.disabled_reason = :why",
                "ConditionExpression": "auto_topup.enabled = :t AND auto_topup.failures >= :max",
                "ExpressionAttributeValues": {":f": {"BOOL": False}, ":t": {"BOOL": True}, ":why": {"S": why},
                                              ":max": {"N": str(MAX_FAILURES)}},
            }},
            audit.transaction_put(user_id="system", action="auto_topup_disabled", resource_type="auto_topup",
                                  resource_id=user_id, details={"failures": failures, "reason": why}),
            {"Put": {"TableName": db.table_name(ACTIVITY), "Item": {
                "user_id": {"S": user_id}, "sk": {"S": f"{now}#{activity_id}"},
                "user_event": {"S": f"{user_id}#auto_topup_disabled"}, "id": {"S": activity_id},
                "event_type": {"S": "auto_topup_disabled"},
                "event_data": {"S": json.dumps({"reason": why, "failures": failures}, separators=(",", ":"))},
                "metadata": {"S": json.dumps({"source": "billing"}, separators=(",", ":"))},
                "timestamp": {"S": now}, "expires_at": {"N": str(int(now_ts()) + _ACTIVITY_RETENTION)},
            }, "ConditionExpression": "attribute_not_exists(sk)"}},
        ])
    except ClientError as exc:
        if "ConditionalCheckFailed" not in db.cancellation_reasons(exc):
            raise
        return  # already off
    logger.warning("auto top-up turned off", extra={"user_id": user_id, "failures": failures})


# ---------------------------------------------------------------- configuration


def _set_rule(user_id: str, fields: dict[str, Any], *, removes: tuple[str, ...] = (),
              condition: str | None = None, cond_values: dict[str, Any] | None = None) -> None:
    """Set fields of the rule (creating it with defaults when the user has none)."""
    names = {f"#r{i}": name for i, name in enumerate(fields)}
    vals = {f":r{i}": serialize(to_item({"v": value})["v"]) for i, value in enumerate(fields.values())}
    update = "SET " + ", ".join(f"auto_topup.#r{i} = :r{i}" for i in range(len(fields)))
    if removes:
        update += " REMOVE " + ", ".join(f"auto_topup.{name}" for name in removes)
    cond = "attribute_exists(auto_topup)" + (f" AND ({condition})" if condition else "")
    try:
        db.client().update_item(TableName=db.table_name(users.USERS), Key=_user_key(user_id), UpdateExpression=update,
                                ConditionExpression=cond, ExpressionAttributeNames=names,
                                ExpressionAttributeValues={**vals, **(cond_values or {})})
        return
    except ClientError as exc:
        if not db.is_conditional_failure(exc):
            raise
    rule = AutoTopup(**fields).model_dump()
    try:
        db.client().update_item(TableName=db.table_name(users.USERS), Key=_user_key(user_id),
                                UpdateExpression="SET auto_topup = :rule",
                                ConditionExpression="attribute_exists(user_id) AND attribute_not_exists(auto_topup)",
                                ExpressionAttributeValues={":rule": serialize(to_item(rule))})
    except ClientError as exc:
        if db.is_conditional_failure(exc):
            raise Conflict("The auto top-up rule changed meanwhile; read it again and retry") from None
        raise


def save_card(user_id: str, payment_method: str) -> None:
    """The card saved by a setup-mode Checkout becomes the one auto top-up charges."""
    _set_rule(user_id, {"payment_method": payment_method})


def configure(user: UserRecord, *, enabled: bool, threshold: Decimal, amount: Decimal) -> None:
    """Set the rule. Enabling needs a saved card; saving re-arms it and clears the failure count."""
    rule = user.auto_topup
    if enabled and (rule is None or not rule.payment_method):
        raise Conflict("Save a card first: POST /billing/auto-topup/setup opens Stripe Checkout to save one",
                       code="no_saved_card")
    _set_rule(user.user_id, {"enabled": enabled, "threshold": threshold, "amount": amount, "armed": True, "failures": 0},
              removes=("disabled_reason", "pending"))
