"""Payments rules: Stripe Checkout Sessions and PaymentIntents for credit purchases (no HTTP here).

Credits are added only by the webhook, when Stripe says the payment succeeded. The metadata of the session and of its
PaymentIntent carry the user id, the credits bought and the coupon, so either event can credit the payment.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from gateway_common import audit, coupons, stripe_client
from gateway_common.errors import BadRequest
from gateway_common.models import UserRecord
from gateway_common.timeutil import iso_now

from .schemas import CreateCouponRequest

MIN_CHARGE = Decimal("0.50")  # Stripe's minimum charge in usd/eur/gbp


class Quote:
    """What a purchase costs: credits, the price after a pending percentage coupon, and the Stripe metadata."""

    def __init__(self, user: UserRecord, amount: Decimal, currency: str | None) -> None:
        currency = currency or user.currency
        if currency != user.currency:
            raise BadRequest(f"Your account is billed in '{user.currency}': buy credits in '{user.currency}'")
        self.user = user
        self.amount = amount.quantize(coupons.CENT)
        self.currency = currency
        self.pending = coupons.pending_discount(user.user_id)
        self.charge = coupons.discounted(amount, self.pending.percent) if self.pending else amount
        if self.charge < MIN_CHARGE:
            raise BadRequest(f"The amount to pay after the discount must be at least {MIN_CHARGE} {currency}")

    @property
    def cents(self) -> int:
        return int(self.charge * 100)

    @property
    def coupon_code(self) -> str | None:
        return self.pending.code if self.pending else None

    def metadata(self) -> dict[str, str]:
        data = {"user_id": self.user.user_id, "credits": str(self.amount), "currency": self.currency}
        if self.pending:
            data["coupon_code"] = self.pending.code
        return data


def create_checkout(quote: Quote, *, success_url: str, cancel_url: str | None, idempotency_key: str | None,
                    meta: dict[str, str | None]) -> Any:
    meta_data = quote.metadata()
    params: dict[str, Any] = {
        "mode": "payment",
        "client_reference_id": quote.user.user_id,
        "line_items": [{
            "quantity": 1,
            "price_data": {
                "currency": quote.currency,
                "unit_amount": quote.cents,
                "product_data": {"name": f"{quote.amount} AI Gateway credits"},
            },
        }],
        "success_url": success_url,
        "cancel_url": cancel_url or success_url,
        "metadata": meta_data,
        "payment_intent_data": {"metadata": meta_data},
    }
    if quote.user.email:
        params["customer_email"] = quote.user.email
    options = {"idempotency_key": f"checkout:{quote.user.user_id}:{idempotency_key}"} if idempotency_key else None
    session = stripe_client.call("create the checkout session", lambda: stripe_client.client().v1.checkout.sessions.create(
        params=params, options=options))  # type: ignore[arg-type]
    audit.record(user_id=quote.user.user_id, action="checkout_created", resource_type="payment", resource_id=session.id,
                 details={"amount": str(quote.amount), "charged": str(quote.charge), "currency": quote.currency,
                          "coupon_code": quote.coupon_code}, **meta)
    return session


def create_payment_intent(quote: Quote, *, idempotency_key: str | None, meta: dict[str, str | None]) -> Any:
    params: dict[str, Any] = {
        "amount": quote.cents,
        "currency": quote.currency,
        "metadata": quote.metadata(),
        "automatic_payment_methods": {"enabled": True},
        "description": f"{quote.amount} AI Gateway credits",
    }
    options = {"idempotency_key": f"pi:{quote.user.user_id}:{idempotency_key}"} if idempotency_key else None
    intent = stripe_client.call("create the payment intent", lambda: stripe_client.client().v1.payment_intents.create(
        params=params, options=options))  # type: ignore[arg-type]
    audit.record(user_id=quote.user.user_id, action="payment_intent_created", resource_type="payment",
                 resource_id=intent.id, details={"amount": str(quote.amount), "charged": str(quote.charge),
                                                 "currency": quote.currency, "coupon_code": quote.coupon_code}, **meta)
    return intent


def new_coupon(body: CreateCouponRequest, admin_id: str) -> coupons.Coupon:
    if body.discount_type == "percentage" and body.discount_value >= 100:
        raise BadRequest("A percentage coupon's discount_value must be below 100 (percent off the next purchase)")
    valid_from = coupons.valid_iso(body.valid_from, "valid_from")
    valid_to = coupons.valid_iso(body.valid_to, "valid_to")
    if valid_from and valid_to and valid_to <= valid_from:
        raise BadRequest("'valid_to' must be after 'valid_from'")
    return coupons.Coupon(
        coupon_id="coupon_" + secrets.token_hex(6), code=coupons.normalize(body.code), discount_type=body.discount_type,
        discount_value=body.discount_value, max_uses=body.max_uses, is_active=body.is_active, valid_from=valid_from,
        valid_to=valid_to, description=body.description, created_at=iso_now(), created_by=admin_id,
    )
