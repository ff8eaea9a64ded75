"""The shape a handled Stripe event must have before anything is read or written for it.

A delivery can be signed correctly and still not be usable: ``data.object`` null, a list or a string, an object
without an id, metadata that is not an object, an amount no payment can have. Such an event answers 400 (Stripe shows
the delivery as failed and its reason), stores nothing, and the log says why. Only the fields the handlers use are
checked; Stripe's other fields may be anything.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from gateway_common.errors import BadRequest
from gateway_common.observability import logger

MAX_CENTS = 10**11  # one billion in any currency: far above any payment taken here, far below overflow
MAX_CREDITS = Decimal(10**9)
_ID = re.compile(r"^[A-Za-z0-9_]{3,255}$")
_AMOUNTS = ("amount", "amount_total", "amount_received", "amount_refunded", "amount_paid", "amount_due",
            "amount_remaining", "amount_subtotal")
_TIMESTAMPS = ("created", "current_period_start", "current_period_end", "canceled_at", "ended_at", "cancel_at",
               "start_date", "period_start", "period_end")
# Stripe object type of each handled event's data.object
OBJECT_OF = {
    "checkout.session.completed": "checkout.session",
    "payment_intent.succeeded": "payment_intent",
    "payment_intent.payment_failed": "payment_intent",
    "charge.refunded": "charge",
    "customer.subscription.created": "subscription",
    "customer.subscription.updated": "subscription",
    "customer.subscription.deleted": "subscription",
    "invoice.paid": "invoice",
    "invoice.payment_failed": "invoice",
    "setup_intent.succeeded": "setup_intent",
}


class Malformed(BadRequest):
    pass


def check(event: dict[str, Any]) -> dict[str, Any]:
    """The event's ``data.object``, or Malformed (logged with the event id and type) naming what is wrong."""
    try:
        return _check(event)
    except Malformed as exc:
        logger.warning("malformed stripe event refused", extra={
            "event_id": str(event.get("id"))[:255], "event_type": str(event.get("type"))[:100], "reason": exc.message})
        raise


def _check(event: dict[str, Any]) -> dict[str, Any]:
    kind = str(event["type"])
    if not isinstance(event["id"], str) or not _ID.match(event["id"]):
        raise Malformed("The event id is not a Stripe id")
    created = event.get("created")
    if not _int(created, 0, 10**10):
        raise Malformed("The event's 'created' is not a Unix timestamp")
    data = event["data"]
    if not isinstance(data, dict):
        raise Malformed("The event's 'data' is not an object")
    obj = data.get("object")
    if not isinstance(obj, dict):
        raise Malformed(f"The event's data.object is {type(obj).__name__ if obj is not None else 'null'}, not an object")
    expected = OBJECT_OF[kind]
    if obj.get("object") not in (None, expected):
        raise Malformed(f"A {kind} event must carry a {expected} object, not {str(obj.get('object'))[:40]!r}")
    if not isinstance(obj.get("id"), str) or not _ID.match(obj["id"]):
        raise Malformed(f"The {expected} in the event has no valid id")
    metadata = obj.get("metadata")
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise Malformed(f"The {expected}'s metadata is not an object of strings")
    credits = (metadata or {}).get("credits")
    if credits is not None and not _decimal(credits):
        raise Malformed(f"The {expected}'s metadata.credits is not an amount between 0 and {MAX_CREDITS}")
    for name in ("last_payment_error", "parent", "customer_details"):
        if obj.get(name) is not None and not isinstance(obj[name], dict):
            raise Malformed(f"The {expected}'s {name} is not an object")
    details = (obj.get("parent") or {}).get("subscription_details")
    if details is not None and not isinstance(details, dict):
        raise Malformed(f"The {expected}'s parent.subscription_details is not an object")
    for name in _AMOUNTS:
        if name in obj and obj[name] is not None and not _int(obj[name], 0, MAX_CENTS):
            raise Malformed(f"The {expected}'s {name} is not a whole number of cents between 0 and {MAX_CENTS}")
    for name in _TIMESTAMPS:
        if name in obj and obj[name] is not None and not _int(obj[name], 0, 10**10):
            raise Malformed(f"The {expected}'s {name} is not a Unix timestamp")
    for name in ("currency", "status", "mode", "payment_status", "customer", "subscription", "payment_intent",
                 "payment_method"):
        value = obj.get(name)
        if value is not None and not isinstance(value, str) and not (isinstance(value, dict) and isinstance(value.get("id"), str)):
            raise Malformed(f"The {expected}'s {name} is neither a string nor an object with an id")
    if expected == "subscription":
        _subscription(obj)
    return obj


def _subscription(obj: dict[str, Any]) -> None:
    items = obj.get("items")
    rows = items.get("data") if isinstance(items, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise Malformed("The subscription has no items (items.data)")
    for row in rows:
        price = row.get("price")
        if not isinstance(price, dict) or not isinstance(price.get("id"), str):
            raise Malformed("A subscription item has no price id")
        if price.get("unit_amount") is not None and not _int(price["unit_amount"], 0, MAX_CENTS):
            raise Malformed("A subscription item's price.unit_amount is not a whole number of cents")
        if row.get("quantity") is not None and not _int(row["quantity"], 0, 10**6):
            raise Malformed("A subscription item's quantity is not a whole number")
        if price.get("currency") is not None and not isinstance(price["currency"], str):
            raise Malformed("A subscription item's price.currency is not a string")
        if row.get("id") is not None and not isinstance(row["id"], str):
            raise Malformed("A subscription item's id is not a string")
        for name in ("current_period_start", "current_period_end"):
            if row.get(name) is not None and not _int(row[name], 0, 10**10):
                raise Malformed(f"A subscription item's {name} is not a Unix timestamp")
    if not isinstance(obj.get("status"), str):
        raise Malformed("The subscription has no status")
    if obj.get("cancel_at_period_end") not in (None, True, False):
        raise Malformed("The subscription's cancel_at_period_end is not a boolean")


def _decimal(value: Any) -> bool:
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        return False
    return amount.is_finite() and 0 <= amount <= MAX_CREDITS


def _int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value < high
