"""Request and response models of the payments group (Stripe, trials, coupons, referrals)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from gateway_common.coupons import Coupon
from gateway_common.money import Money
from gateway_common.referrals import Referral
from gateway_common.schemas import StrictBody

MIN_AMOUNT = Decimal("1.00")
MAX_AMOUNT = Decimal("10000.00")
CURRENCIES = ("usd", "eur", "gbp")

PERCENTAGE_MEANS = (
    "A `percentage` coupon gives `discount_value` percent off the user's next credit purchase: the user pays the reduced "
    "price and receives the full credits (buying 50.00 with 10 % off charges 45.00 and credits 50.00). A `fixed` coupon "
    "adds `discount_value` credits to the balance at once."
)


def _amount(value: Decimal) -> Decimal:
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("use at most 2 decimal places (cents)")
    return value


# ---------------------------------------------------------------- Stripe


class PurchaseBody(StrictBody):
    amount: Decimal = Field(..., ge=MIN_AMOUNT, le=MAX_AMOUNT, description=f"Credits to buy, {MIN_AMOUNT}-{MAX_AMOUNT}")
    currency: str | None = Field(None, description="usd, eur or gbp; must be the account's currency (the default)")

    _amount_cents = field_validator("amount")(_amount)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if value not in CURRENCIES:
            raise ValueError(f"unsupported currency; use one of {', '.join(CURRENCIES)}")
        return value


class CheckoutRequest(PurchaseBody):
    success_url: str = Field(..., max_length=2048, description="Where Stripe sends the customer after paying (https)")
    cancel_url: str | None = Field(None, max_length=2048, description="Where Stripe sends a customer who cancels")

    @field_validator("success_url", "cancel_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("https://") or value.startswith("http://localhost")
                                      or value.startswith("http://127.0.0.1")):
            raise ValueError("must be an https:// URL")
        return value


class PaymentIntentRequest(PurchaseBody):
    pass


class CheckoutResponse(BaseModel):
    success: bool = True
    checkout_url: str
    session_id: str
    amount: Money = Field(description="Credits the payment adds")
    amount_charged: Money = Field(description="What the customer pays (less than amount with a percentage coupon)")
    currency: str
    coupon_code: str | None = None


class PaymentIntentResponse(BaseModel):
    success: bool = True
    client_secret: str
    payment_intent_id: str
    amount: Money
    amount_charged: Money
    currency: str
    coupon_code: str | None = None


# ---------------------------------------------------------------- trials


class TrialStartRequest(StrictBody):
    trial_type: Literal["standard"] = "standard"


class TrialStartResponse(BaseModel):
    success: bool = True
    trial_id: str
    start_date: str
    end_date: str
    credits: Money
    max_requests: int


class TrialStatusView(BaseModel):
    trial_id: str
    trial_type: str
    status: str
    is_active: bool
    remaining_credits: Money
    remaining_requests: int
    requests_used: int
    credits: Money
    max_requests: int
    start_date: str
    end_date: str


class TrialStatusResponse(BaseModel):
    success: bool = True
    trial: TrialStatusView | None = Field(description="null when the account never started a trial")


class TrialConvertRequest(StrictBody):
    plan_id: int | str = Field(..., description="Plan id or slug of a paid plan (GET /plans)")
    success_url: str | None = Field(None, max_length=2048, description="Where Stripe sends the customer after paying")
    cancel_url: str | None = Field(None, max_length=2048, description="Where Stripe sends a customer who gives up")

    @field_validator("success_url", "cancel_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return CheckoutRequest._url(value)


class TrialConvertResponse(BaseModel):
    success: bool = True
    message: str
    new_plan: str = Field(description="The plan the trial converts to once paid")
    plan_id: int
    status: str = Field(description="pending_payment: nothing changes until Stripe reports the payment")
    checkout_url: str | None = None
    session_id: str | None = None


# ---------------------------------------------------------------- coupons


class CreateCouponRequest(StrictBody):
    code: str = Field(..., min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    discount_type: Literal["percentage", "fixed"] = Field(..., description=PERCENTAGE_MEANS)
    discount_value: Decimal = Field(..., gt=0, le=Decimal("10000"))
    max_uses: int | None = Field(None, ge=1, le=10_000_000)
    valid_from: str | None = Field(None, description="ISO 8601; default now")
    valid_to: str | None = Field(None, description="ISO 8601; default never")
    is_active: bool = True
    description: str = Field("", max_length=500)

    _value_cents = field_validator("discount_value")(_amount)


class CouponView(BaseModel):
    id: str
    code: str
    discount_type: str
    discount_value: Money
    max_uses: int | None
    uses_count: int
    is_active: bool
    valid_from: str | None
    valid_to: str | None
    description: str
    grants: str
    created_at: str

    @classmethod
    def of(cls, c: Coupon) -> CouponView:
        return cls(id=c.coupon_id, code=c.code, discount_type=c.discount_type, discount_value=c.discount_value,
                   max_uses=c.max_uses, uses_count=c.uses_count, is_active=c.is_active, valid_from=c.valid_from,
                   valid_to=c.valid_to, description=c.description, grants=c.grants(), created_at=c.created_at)


class PublicCouponView(BaseModel):
    code: str
    discount_type: str
    discount_value: Money
    is_active: bool
    valid_from: str | None
    valid_to: str | None
    description: str
    grants: str


class CouponResponse(BaseModel):
    success: bool = True
    coupon: CouponView


class PublicCouponResponse(BaseModel):
    success: bool = True
    coupon: PublicCouponView


class CouponList(BaseModel):
    success: bool = True
    data: list[CouponView]
    total: int
    limit: int
    offset: int


class ApplyCouponRequest(StrictBody):
    code: str = Field(..., min_length=1, max_length=32)


class ApplyCouponResponse(BaseModel):
    success: bool = True
    message: str
    discount_type: str
    discount_amount: Money = Field(description="Credits for a fixed coupon; the percent for a percentage coupon")
    credits_added: Money
    new_balance: Money


# ---------------------------------------------------------------- referrals


class ReferralCodeResponse(BaseModel):
    success: bool = True
    referral_code: str
    total_referrals: int
    total_rewards: Money
    pending_rewards: Money


class ApplyReferralRequest(StrictBody):
    referral_code: str = Field(..., min_length=4, max_length=16)


class ApplyReferralResponse(BaseModel):
    success: bool = True
    message: str
    reward_amount: Money
    credits_added: Money
    new_balance: Money


class ReferralView(BaseModel):
    id: str
    referral_code: str
    referred_user_id: str
    referred_email: str
    status: str
    reward_amount: Money
    created_at: str
    completed_at: str | None
    paid_at: str | None

    @classmethod
    def of(cls, r: Referral) -> ReferralView:
        return cls(id=r.referral_id, referral_code=r.referral_code, referred_user_id=r.referred_user_id,
                   referred_email=r.referred_email, status=r.status, reward_amount=r.reward_amount,
                   created_at=r.created_at, completed_at=r.completed_at, paid_at=r.paid_at)


class ReferralStatsResponse(BaseModel):
    success: bool = True
    total_referrals: int
    active_referrals: int
    total_rewards: Money
    pending_rewards: Money
    conversion_rate: float
    recent_referrals: list[ReferralView]


class ReferralHistoryResponse(BaseModel):
    success: bool = True
    data: list[ReferralView]
    total: int
    limit: int
    offset: int
