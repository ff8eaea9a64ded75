"""Stripe events -> credits, exactly once.

- The signature is checked on the raw body with the ``stripe`` library (``Stripe-Signature``, 5-minute tolerance).
- Each event id is processed once: a processed event leaves ``EVENT#<id>`` in BillingTable; a delivery that finds it
  answers 200 and does nothing. Everything an event does is itself idempotent (deterministic ledger entry ids), so a
  crash before the marker is written only means Stripe's retry finishes the work, and parallel deliveries of one
  event cannot credit twice either.
- A payment credits once: ``checkout.session.completed`` and ``payment_intent.succeeded`` of one payment share the
  ledger entry ``stripe:<payment_intent_id>``. The credits are the amount actually paid (1 credit per currency unit),
  plus, with a percentage coupon, the discount as the entry ``coupon:<CODE>`` (used once).
- ``charge.refunded`` removes the refunded share of the payment's credits by delta: ``amount_refunded`` is cumulative,
  the payment item remembers how much was already removed, and entry ``refund:<charge_id>:<amount_refunded>`` plus a
  condition on the previous figure make each refund step apply once, in any order. A refund removes credits even if
  they were spent (the balance may go below zero; AI requests are then refused until it is topped up). A refund whose
  event comes before the payment's (Stripe does not order deliveries; the payment event may be in its retries) is kept
  on the payment item and applied when the payment is credited: each side writes its part, then reads the other's.
- ``payment_intent.payment_failed`` is recorded (payment item + audit entry), no balance changes.
- An auto top-up's PaymentIntent (metadata ``auto_topup``) also reports its result to ``autotopup.record_result``.
- Subscriptions, invoices and saved cards: ``subscription_events.py``.
- A handled event is checked first (``shapes.py``): one that cannot be used answers 400 before any read or write.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import stripe
from botocore.exceptions import ClientError

from gateway_common import audit, autotopup, billing, coupons, db, ledger, referrals, trial_lifecycle, users
from gateway_common.errors import BadRequest, ServiceUnavailable
from gateway_common.observability import logger
from gateway_common.secrets import get_secret
from gateway_common.timeutil import iso_now, now_ts

from . import shapes, subscription_events

TOLERANCE_SECONDS = 300
HANDLED = tuple(shapes.OBJECT_OF)
CENT = Decimal("0.01")


def verify(payload: bytes, signature: str | None) -> dict[str, Any]:
    secret = get_secret("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise ServiceUnavailable("Stripe webhooks are not configured on this deployment: the STRIPE_WEBHOOK_SECRET setting "
                                 "(STRIPE_WEBHOOK_SECRET_PARAM in AWS) is missing; nothing was processed, Stripe will retry")
    if not signature:
        raise BadRequest("Missing Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, secret, TOLERANCE_SECONDS)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
        raise BadRequest("Invalid Stripe signature") from None
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadRequest("The event body is not JSON") from None
    if not isinstance(event, dict) or not event.get("id") or not event.get("type") or "data" not in event:
        raise BadRequest("The body is not a Stripe event (id, type, data)")
    return event


def handle(event: dict[str, Any]) -> str:
    event_id, kind = str(event["id"]), str(event["type"])
    if kind not in HANDLED:
        return "ignored"  # nothing to do, nothing to remember: no read, no marker
    obj = shapes.check(event)  # 400 before any read or write when the event cannot be used
    if billing.get(f"EVENT#{event_id}", "EVENT") is not None:
        if kind.startswith("payment_intent."):
            _topup_still_pending(obj, succeeded=kind == "payment_intent.succeeded")
        return "duplicate"
    if kind == "payment_intent.payment_failed":
        outcome = _payment_failed(event_id, obj)
        return _topup_result(obj, outcome, succeeded=False)
    if kind in ("invoice.paid", "invoice.payment_failed"):
        return subscription_events.on_invoice(event_id, kind, obj)
    if kind.startswith("customer.subscription."):
        outcome = subscription_events.on_subscription(event_id, int(event["created"]), obj)
    elif kind == "setup_intent.succeeded":
        outcome = subscription_events.on_setup_succeeded(event_id, obj)
    elif kind == "checkout.session.completed" and obj.get("mode") == "subscription":
        outcome = subscription_events.on_subscription_checkout(event_id, obj)
    elif kind == "checkout.session.completed" and obj.get("mode") == "setup":
        outcome = "ignored"  # the saved card arrives with setup_intent.succeeded
    elif kind == "checkout.session.completed":
        outcome = _checkout_completed(event_id, obj)
    elif kind == "payment_intent.succeeded":
        outcome = _topup_result(obj, _intent_succeeded(event_id, obj), succeeded=True)
    else:
        outcome = _refunded(event_id, obj)
    return _mark(event_id, kind, outcome)


def _topup_result(intent: dict[str, Any], outcome: str, *, succeeded: bool) -> str:
    """An auto top-up's PaymentIntent (metadata ``auto_topup`` = its crossing): re-arm, or count the failure."""
    meta = intent.get("metadata") or {}
    crossing, user_id = str(meta.get("auto_topup") or ""), meta.get("user_id")
    if not crossing.isdigit() or not user_id or outcome in ("ignored_unknown_user", "duplicate"):
        return outcome
    error = intent.get("last_payment_error") or {}
    autotopup.record_result(str(user_id), int(crossing), succeeded=succeeded,
                            reason=str(error.get("message") or error.get("code") or ""))
    return outcome


def _topup_still_pending(intent: dict[str, Any], *, succeeded: bool) -> None:
    """A redelivered auto top-up result whose first delivery stored its effect (the failure's marker commits with it)
    and then failed to record it on the rule (a 503): record it now, or the rule stays pending and never tops up
    again. Only a read when it was recorded (the usual duplicate): ``record_result`` is conditional on the crossing."""
    meta = intent.get("metadata") or {}
    crossing, user_id = str(meta.get("auto_topup") or ""), meta.get("user_id")
    if not crossing.isdigit() or not user_id:
        return
    user = users.get_user(str(user_id))
    if user is not None and user.auto_topup is not None and user.auto_topup.pending == int(crossing):
        _topup_result(intent, "recorded", succeeded=succeeded)


APPLIED_OUTCOMES = frozenset({"credited", "refunded"})


def _mark(event_id: str, kind: str, outcome: str) -> str:
    """Record the event as processed. The answer says what this delivery did: a delivery that moved money says so
    even when a concurrent delivery of the same event recorded the marker first (its own effect found nothing to do)."""
    try:
        billing.table().put_item(
            Item={"pk": f"EVENT#{event_id}", "sk": "EVENT", "type": kind, "outcome": outcome, "processed_at": iso_now()},
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as exc:
        if db.is_conditional_failure(exc):
            return outcome if outcome in APPLIED_OUTCOMES else "duplicate"
        raise
    return outcome


def _id(value: Any) -> str | None:
    """A Stripe reference: an id string, or an expanded object with an id."""
    if isinstance(value, dict):
        return value.get("id")
    return value or None


# ---------------------------------------------------------------- payments


def _checkout_completed(event_id: str, session: dict[str, Any]) -> str:
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        return "awaiting_payment"  # delayed methods: payment_intent.succeeded credits it later
    payment_id = _id(session.get("payment_intent")) or str(session["id"])
    return _credit_payment(event_id, payment_id, session.get("metadata") or {}, int(session.get("amount_total") or 0),
                           str(session.get("currency") or ""), checkout_session_id=str(session["id"]))


def _intent_succeeded(event_id: str, intent: dict[str, Any]) -> str:
    paid = int(intent.get("amount_received") or intent.get("amount") or 0)
    return _credit_payment(event_id, str(intent["id"]), intent.get("metadata") or {}, paid, str(intent.get("currency") or ""))


def _credit_payment(event_id: str, payment_id: str, metadata: dict[str, Any], amount_cents: int, currency: str,
                    checkout_session_id: str | None = None) -> str:
    user_id = metadata.get("user_id")
    user = users.get_user(str(user_id)) if user_id else None
    if user is None:
        logger.warning("payment for no known user", extra={"payment_id": payment_id, "event_id": event_id})
        return "ignored_unknown_user"
    currency = currency.lower()
    if currency != user.currency or amount_cents <= 0:
        audit.record(user_id="system", action="payment_needs_review", resource_type="payment", resource_id=payment_id,
                     details={"user_id": user.user_id, "currency": currency, "amount_cents": amount_cents,
                              "stripe_event_id": event_id})
        return "needs_review"
    paid = (Decimal(amount_cents) / 100).quantize(CENT)
    now = iso_now()
    record = billing.transact_update(
        f"PAYMENT#{payment_id}", "PAYMENT",
        "SET user_id = :u, amount_cents = :a, currency = :c, credits = :cr, #st = :s, succeeded_at = :now,"
        " gsi1pk = :g, gsi1sk = if_not_exists(gsi1sk, :now), refunded_cents = if_not_exists(refunded_cents, :zero),"
        " bonus = if_not_exists(bonus, :zero)" + (", checkout_session_id = :cs" if checkout_session_id else ""),
        names={"#st": "status"},
        vals={":u": user.user_id, ":a": amount_cents, ":c": currency, ":cr": paid, ":s": "succeeded", ":now": now,
              ":g": f"PAYMENTS#{user.user_id}", ":zero": 0, **({":cs": checkout_session_id} if checkout_session_id else {})},
    )
    result = ledger.credit(
        user_id=user.user_id, amount=paid, entry_id=f"stripe:{payment_id}", reason="stripe payment", currency=currency,
        audit_action="credits_purchased",
        details={"payment_intent_id": payment_id, "checkout_session_id": checkout_session_id, "stripe_event_id": event_id},
        extra_transact_items=[record],
    )
    _coupon_bonus(user.user_id, payment_id, metadata, paid, currency)
    _apply_early_refund(event_id, payment_id)
    referrals.on_payment(user.user_id, payment_id)
    trial = user.trial
    if trial is not None and trial.status == "active" and trial.ends_at <= now_ts():
        # An ended trial refuses AI requests until it is closed; a customer who pays expects to continue at once, so
        # close it now rather than at the next scheduled run (its unspent credits go, the purchase stays).
        trial_lifecycle.expire_one(user.user_id, trial.trial_id, now_ts())
    return "credited" if result.applied else "already_credited"


def _coupon_bonus(user_id: str, payment_id: str, metadata: dict[str, Any], paid: Decimal, currency: str) -> None:
    """With a percentage coupon, the discount is credited too (once: the pending coupon is consumed with it)."""
    code = metadata.get("coupon_code")
    try:
        credits = Decimal(str(metadata.get("credits") or "0"))
    except ArithmeticError:
        return
    bonus = (credits - paid).quantize(CENT)
    if not code or bonus <= 0 or bonus > credits:
        return
    try:
        ledger.credit(
            user_id=user_id, amount=bonus, entry_id=f"coupon:{coupons.normalize(str(code))}", reason="coupon discount",
            currency=currency, audit_action="coupon_redeemed", details={"coupon_code": code, "payment_intent_id": payment_id},
            extra_transact_items=[
                coupons.consume_pending_item(user_id, str(code)),
                # not on a payment already (partly) refunded: the refund did not count this bonus, and it stays pending
                billing.transact_update(f"PAYMENT#{payment_id}", "PAYMENT", "SET bonus = :b, coupon_code = :c",
                                        condition="refunded_cents = :zero", vals={":b": bonus, ":c": str(code), ":zero": 0}),
            ],
        )
    except ledger.ExtraItemRefused as refused:
        why = "already used by another payment" if refused.index == 0 else "payment refunded before its discount was credited"
        logger.info(f"percentage coupon not credited: {why}", extra={"payment_id": payment_id})


def _payment_failed(event_id: str, intent: dict[str, Any]) -> str:
    payment_id = str(intent["id"])
    error = intent.get("last_payment_error") or {}
    user_id = (intent.get("metadata") or {}).get("user_id") or "unknown"
    items = [
        billing.transact_put({"pk": f"EVENT#{event_id}", "sk": "EVENT", "type": "payment_intent.payment_failed",
                              "outcome": "recorded", "processed_at": iso_now()}),
        billing.transact_update(
            f"PAYMENT#{payment_id}", "PAYMENT",
            "SET user_id = if_not_exists(user_id, :u), failures = if_not_exists(failures, :zero) + :one, last_error = :e,"
            " #st = if_not_exists(#st, :failed)",
            names={"#st": "status"},
            vals={":u": str(user_id), ":zero": 0, ":one": 1, ":e": str(error.get("message") or error.get("code") or ""),
                  ":failed": "failed"},
        ),
        audit.transaction_put(
            user_id=str(user_id), action="payment_failed", resource_type="payment", resource_id=payment_id,
            details={"stripe_event_id": event_id, "amount_cents": intent.get("amount"), "currency": intent.get("currency"),
                     "decline_code": error.get("decline_code"), "error_code": error.get("code")},
        ),
    ]
    return "recorded" if billing.write_once(items) else "duplicate"


# ---------------------------------------------------------------- refunds


def _refunded(event_id: str, charge: dict[str, Any]) -> str:
    payment_id = _id(charge.get("payment_intent")) or str(charge["id"])
    cumulative = int(charge.get("amount_refunded") or 0)
    outcome = _refund_to(event_id, payment_id, str(charge["id"]), cumulative)
    if outcome != "awaiting_payment" or cumulative <= 0:
        return outcome
    # Stripe does not order deliveries: the payment's success event may still be on its way (or being retried). Keep
    # the refund figure on the payment item, then look again: whichever of the two events writes second applies it.
    try:
        billing.table().update_item(
            Key=billing.key(f"PAYMENT#{payment_id}", "PAYMENT"),
            UpdateExpression="SET pending_refund_cents = :cum, pending_refund_charge = :ch",
            ConditionExpression="attribute_not_exists(pending_refund_cents) OR pending_refund_cents < :cum",
            ExpressionAttributeValues={":cum": cumulative, ":ch": str(charge["id"])},
        )
    except ClientError as exc:
        if not db.is_conditional_failure(exc):
            raise  # a larger figure is already kept
    outcome = _refund_to(event_id, payment_id, str(charge["id"]), cumulative)
    if outcome == "awaiting_payment":
        logger.warning("refund of a payment not credited (yet)", extra={"payment_id": payment_id, "event_id": event_id})
        return "refund_awaiting_payment"
    return outcome


def _apply_early_refund(event_id: str, payment_id: str) -> None:
    """After a payment is credited: apply a refund whose event arrived before the payment's (kept on the item)."""
    payment = billing.get(f"PAYMENT#{payment_id}", "PAYMENT") or {}
    pending = int(payment.get("pending_refund_cents") or 0)
    if pending > int(payment.get("refunded_cents") or 0):
        _refund_to(event_id, payment_id, str(payment["pending_refund_charge"]), pending)


def _refund_to(event_id: str, payment_id: str, charge_id: str, cumulative: int) -> str:
    """Remove the credits of a payment refunded up to ``cumulative`` cents (each step once, in any order)."""
    for _ in range(10):
        payment = billing.get(f"PAYMENT#{payment_id}", "PAYMENT")
        if payment is None or payment.get("status") not in ("succeeded", "refunded") or not payment.get("amount_cents"):
            return "awaiting_payment"
        previous = int(payment.get("refunded_cents") or 0)
        amount = int(payment["amount_cents"])
        cumulative = min(cumulative, amount)
        if cumulative <= previous:
            return "already_refunded"
        bonus = Decimal(str(payment.get("bonus") or 0))
        total = Decimal(str(payment["credits"])) + bonus
        # Removed-so-far figures are rounded, and the step is their difference: the steps of a full refund add up to
        # exactly the credits the payment gave.
        delta = _share(total, cumulative, amount) - _share(total, previous, amount)
        status = "refunded" if cumulative == amount else "succeeded"
        try:
            ledger.credit(
                user_id=str(payment["user_id"]), amount=-delta, entry_id=f"refund:{charge_id}:{cumulative}",
                reason="stripe refund", currency=str(payment.get("currency") or "usd"), actor_id="system",
                audit_action="credits_refunded",
                details={"payment_intent_id": payment_id, "charge_id": charge_id, "stripe_event_id": event_id,
                         "amount_refunded_cents": cumulative},
                # the figures read must still hold: another refund step or the payment's coupon discount landing
                # meanwhile changes the amount to remove
                extra_transact_items=[billing.transact_update(
                    f"PAYMENT#{payment_id}", "PAYMENT", "SET refunded_cents = :cum, #st = :s",
                    condition="refunded_cents = :prev AND bonus = :bonus", names={"#st": "status"},
                    vals={":cum": cumulative, ":prev": previous, ":s": status, ":bonus": bonus},
                )],
            )
        except ledger.ExtraItemRefused:
            continue  # a figure moved meanwhile: recompute the delta
        return "refunded"
    raise ServiceUnavailable("Refund contention: Stripe will retry this event")


def _share(total: Decimal, part: int, whole: int) -> Decimal:
    return (total * part / whole).quantize(CENT, rounding=ROUND_HALF_UP)
