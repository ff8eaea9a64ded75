"""Coupons: admin-created codes that users apply once each, never more than ``max_uses`` times in total.

What a coupon grants (stated in the README and the OpenAPI description):

- ``fixed``: ``discount_value`` credits (in the account's currency) are added to the balance at once.
- ``percentage``: ``discount_value`` percent off the user's next credit purchase. The user pays the reduced price and
  receives the full amount of credits: buying 50.00 with a 10 % coupon charges 45.00 and credits 50.00 (45.00 as the
  payment, 5.00 as a ``coupon:<CODE>`` ledger entry). The coupon waits on the account until a payment uses it.

Applying is one DynamoDB transaction: the coupon's ``uses_count`` increment (conditional on active, in its validity
window and below ``max_uses``), the per-user redemption item (conditional on absence), and the credit or the pending
discount. So ``uses_count`` never passes ``max_uses`` under any concurrency, and a user applies a code once.
"""

from __future__ import annotations

import random
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel

from . import audit, billing, db, ledger, users
from .errors import BadRequest, Conflict, NotFound
from .timeutil import iso_now, parse_iso

CouponType = Literal["percentage", "fixed"]
CENT = Decimal("0.01")
_RETRIES = 8


class Coupon(BaseModel):
    coupon_id: str
    code: str
    discount_type: CouponType
    discount_value: Decimal
    max_uses: int | None = None
    uses_count: int = 0
    is_active: bool = True
    valid_from: str | None = None
    valid_to: str | None = None
    description: str = ""
    created_at: str
    created_by: str = ""

    def grants(self) -> str:
        if self.discount_type == "fixed":
            return f"{self.discount_value} credits added to your balance"
        return f"{self.discount_value}% off your next credit purchase (you pay less, you receive the full credits)"


class PendingDiscount(BaseModel):
    code: str
    percent: Decimal


def normalize(code: str) -> str:
    return code.strip().upper()


def _pk(code: str) -> str:
    return f"COUPON#{normalize(code)}"


MAX_CODE_LENGTH = 32  # as POST /coupons allows; longer strings are never looked up (DynamoDB refuses keys > 2 KB)


def get(code: str) -> Coupon | None:
    if not 0 < len(normalize(code)) <= MAX_CODE_LENGTH:
        return None
    item = billing.get(_pk(code), "COUPON")
    return Coupon.model_validate(item) if item else None


def require(code: str) -> Coupon:
    coupon = get(code)
    if coupon is None:
        if len(normalize(code)) > MAX_CODE_LENGTH:
            raise NotFound(f"No coupon has that code: coupon codes have at most {MAX_CODE_LENGTH} characters")
        raise NotFound(f"Coupon '{normalize(code)}' does not exist")
    return coupon


def create(coupon: Coupon, *, meta: dict[str, str | None]) -> Coupon:
    item = {**coupon.model_dump(), "pk": _pk(coupon.code), "sk": "COUPON",
            "gsi1pk": "COUPONS", "gsi1sk": f"{coupon.created_at}#{coupon.code}"}
    try:
        billing.write([
            billing.transact_put(item),
            audit.transaction_put(
                user_id=coupon.created_by, action="coupon_created", resource_type="coupon", resource_id=coupon.code,
                details={"discount_type": coupon.discount_type, "discount_value": str(coupon.discount_value),
                         "max_uses": coupon.max_uses}, **meta,
            ),
        ])
    except ClientError as exc:
        if db.cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
            raise Conflict(f"Coupon '{coupon.code}' already exists") from None
        raise
    return coupon


def list_all(*, is_active: bool | None) -> list[Coupon]:
    out = [Coupon.model_validate(i) for i in billing.query_gsi1("COUPONS")]
    return [c for c in out if is_active is None or c.is_active == is_active]


def _refusal(coupon: Coupon, now: str) -> str | None:
    """Why this coupon cannot be applied now (None when it can)."""
    if not coupon.is_active:
        return f"Coupon '{coupon.code}' is no longer active"
    if coupon.valid_from and coupon.valid_from > now:
        return f"Coupon '{coupon.code}' is not valid yet: it starts on {coupon.valid_from}"
    if coupon.valid_to and coupon.valid_to <= now:
        return f"Coupon '{coupon.code}' expired on {coupon.valid_to}"
    if coupon.max_uses is not None and coupon.uses_count >= coupon.max_uses:
        return f"Coupon '{coupon.code}' has reached its maximum of {coupon.max_uses} uses"
    return None


def _raise_refusal(coupon: Coupon, now: str) -> None:
    why = _refusal(coupon, now)
    if why is None:
        return
    if "maximum" in why:
        raise Conflict(why, code="coupon_used_up")
    raise BadRequest(why, code="coupon_not_valid")


def _use_item(code: str, now: str) -> dict[str, Any]:
    return billing.transact_update(
        _pk(code), "COUPON", "SET uses_count = uses_count + :one",
        condition=("is_active = :t AND (attribute_not_exists(max_uses) OR uses_count < max_uses)"
                   " AND (attribute_not_exists(valid_from) OR valid_from <= :now)"
                   " AND (attribute_not_exists(valid_to) OR valid_to > :now)"),
        vals={":one": 1, ":t": True, ":now": now},
    )


def _redemption_item(code: str, user_id: str, now: str, kind: str) -> dict[str, Any]:
    return billing.transact_put({"pk": _pk(code), "sk": f"USER#{user_id}", "user_id": user_id, "code": normalize(code),
                                 "discount_type": kind, "applied_at": now})


def _already_applied(code: str) -> Conflict:
    return Conflict(f"You have already applied coupon '{normalize(code)}'", code="coupon_already_applied")


def apply(user_id: str, code: str, *, meta: dict[str, str | None]) -> tuple[Coupon, Decimal]:
    """Apply a coupon for a user; returns the coupon and the credits added now (0 for a percentage coupon)."""
    for attempt in range(_RETRIES):
        coupon = require(code)
        now = iso_now()
        _raise_refusal(coupon, now)
        try:
            if coupon.discount_type == "fixed":
                return coupon, _apply_fixed(user_id, coupon, now, meta)
            _apply_percentage(user_id, coupon, now, meta)
            return coupon, Decimal("0")
        except _Refused as refused:
            if refused.index == 0:  # the coupon's own condition: explain it from a fresh read
                _raise_refusal(require(code), iso_now())
                raise Conflict(f"Coupon '{coupon.code}' cannot be applied now") from None
            if refused.index == 1:
                raise _already_applied(code) from None
            raise Conflict("You already hold a percentage coupon for your next purchase: use it first",
                           code="coupon_pending") from None
        except ClientError as exc:
            if "TransactionConflict" not in db.cancellation_reasons(exc) or attempt == _RETRIES - 1:
                raise
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311 - jitter, not security
    raise Conflict(f"Coupon '{normalize(code)}' is busy: retry")  # pragma: no cover


class _Refused(Exception):
    def __init__(self, index: int) -> None:
        self.index = index


def _apply_fixed(user_id: str, coupon: Coupon, now: str, meta: dict[str, str | None]) -> Decimal:
    user = users.require_user(user_id)
    try:
        result = ledger.credit(
            user_id=user_id, amount=coupon.discount_value, entry_id=f"coupon:{coupon.code}", reason="coupon",
            currency=user.currency, audit_action="coupon_applied",
            details={"coupon_code": coupon.code, "discount_type": "fixed"},
            extra_transact_items=[_use_item(coupon.code, now), _redemption_item(coupon.code, user_id, now, "fixed")],
            **meta,
        )
    except ledger.ExtraItemRefused as exc:
        raise _Refused(exc.index) from None
    if not result.applied:
        raise _already_applied(coupon.code)
    return coupon.discount_value


def _apply_percentage(user_id: str, coupon: Coupon, now: str, meta: dict[str, str | None]) -> None:
    users.require_user(user_id)
    pending = {"pk": f"USER#{user_id}", "sk": "PENDING_COUPON", "user_id": user_id, "code": coupon.code,
               "percent": coupon.discount_value, "applied_at": now}
    try:
        billing.write([
            _use_item(coupon.code, now),
            _redemption_item(coupon.code, user_id, now, "percentage"),
            billing.transact_put(pending),
            audit.transaction_put(
                user_id=user_id, action="coupon_applied", resource_type="coupon", resource_id=coupon.code,
                details={"discount_type": "percentage", "percent": str(coupon.discount_value)}, **meta,
            ),
        ])
    except ClientError as exc:
        reasons = db.cancellation_reasons(exc)
        refused = [i for i, r in enumerate(reasons) if r == "ConditionalCheckFailed"]
        if refused:
            raise _Refused(refused[0]) from None
        raise


# ------------------------------------------------------------------ the pending percentage discount, used by payments


def pending_discount(user_id: str) -> PendingDiscount | None:
    item = billing.get(f"USER#{user_id}", "PENDING_COUPON")
    return PendingDiscount(code=item["code"], percent=item["percent"]) if item else None


def discounted(amount: Decimal, percent: Decimal) -> Decimal:
    """The price to charge for ``amount`` credits with ``percent`` off, to the cent."""
    return (amount * (Decimal(100) - percent) / Decimal(100)).quantize(CENT, rounding=ROUND_HALF_UP)


def consume_pending_item(user_id: str, code: str) -> dict[str, Any]:
    """Transaction item removing the user's pending discount, only if it is still this code's (so it is used once)."""
    return {
        "Delete": {
            "TableName": db.table_name(billing.BILLING),
            "Key": billing.serialize(billing.key(f"USER#{user_id}", "PENDING_COUPON")),
            "ConditionExpression": "attribute_exists(pk) AND code = :c",
            "ExpressionAttributeValues": billing.values({":c": normalize(code)}),
        }
    }


def valid_iso(value: str | None, field: str) -> str | None:
    """The date-time as the UTC ISO string coupons store (compared as text, so the year must have 4 digits)."""
    if value is None:
        return None
    from .timeutil import iso

    try:
        moment = parse_iso(value)
        text = iso(moment)
    except (ValueError, OverflowError):  # OverflowError: e.g. 9999-12-31T23:59:59-01:00 is past datetime's range in UTC
        raise BadRequest(f"'{field}' is not an ISO 8601 date-time: {value[:64]!r}") from None
    if not 1970 <= moment.year <= 9999 or len(text) != 20:
        raise BadRequest(f"'{field}' must be a date-time between 1970 and 9999: {value[:64]!r}")
    return text
