"""HTTP edge of the payments group: Stripe purchases, trials, coupons, referrals."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Header, Query, Request

from gateway_common import coupons, referrals, trial_lifecycle, users
from gateway_common.auth import Caller
from gateway_common.web import authorized, request_meta

from . import logic, subscription_logic
from .schemas import (
    PERCENTAGE_MEANS,
    ApplyCouponRequest,
    ApplyCouponResponse,
    ApplyReferralRequest,
    ApplyReferralResponse,
    CheckoutRequest,
    CheckoutResponse,
    CouponList,
    CouponResponse,
    CouponView,
    CreateCouponRequest,
    PaymentIntentRequest,
    PaymentIntentResponse,
    PublicCouponResponse,
    PublicCouponView,
    ReferralCodeResponse,
    ReferralHistoryResponse,
    ReferralStatsResponse,
    ReferralView,
    TrialConvertRequest,
    TrialConvertResponse,
    TrialStartRequest,
    TrialStartResponse,
    TrialStatusResponse,
    TrialStatusView,
)

router = APIRouter()
IDEMPOTENCY = Header(None, alias="Idempotency-Key", max_length=128, description="Retries with the same key reuse the result")


# ---------------------------------------------------------------- Stripe


@router.post("/api/stripe/checkout", response_model=CheckoutResponse, tags=["payments"],
             summary="Stripe Checkout Session for a credit purchase", description=PERCENTAGE_MEANS)
def checkout(body: CheckoutRequest, request: Request, idempotency_key: str | None = IDEMPOTENCY,
             caller: Caller = authorized("payments")) -> CheckoutResponse:
    quote = logic.Quote(users.require_user(caller.user_id), body.amount, body.currency)
    session = logic.create_checkout(quote, success_url=body.success_url, cancel_url=body.cancel_url,
                                    idempotency_key=idempotency_key, meta=request_meta(request))
    return CheckoutResponse(checkout_url=session.url, session_id=session.id, amount=quote.amount,
                            amount_charged=quote.charge, currency=quote.currency, coupon_code=quote.coupon_code)


@router.post("/api/stripe/payment-intent", response_model=PaymentIntentResponse, tags=["payments"],
             summary="Stripe PaymentIntent for a credit purchase")
def payment_intent(body: PaymentIntentRequest, request: Request, idempotency_key: str | None = IDEMPOTENCY,
                   caller: Caller = authorized("payments")) -> PaymentIntentResponse:
    quote = logic.Quote(users.require_user(caller.user_id), body.amount, body.currency)
    intent = logic.create_payment_intent(quote, idempotency_key=idempotency_key, meta=request_meta(request))
    return PaymentIntentResponse(client_secret=intent.client_secret, payment_intent_id=intent.id, amount=quote.amount,
                                 amount_charged=quote.charge, currency=quote.currency, coupon_code=quote.coupon_code)


# ---------------------------------------------------------------- trials


@router.post("/trials/start", response_model=TrialStartResponse, tags=["trials"],
             summary="Start the free trial (Free-plan accounts, once each: 3 days, 10.00 credits, 1000 requests)")
def start_trial(request: Request, body: TrialStartRequest | None = None,
                caller: Caller = authorized("trials")) -> TrialStartResponse:
    trial = trial_lifecycle.start(users.require_user(caller.user_id), (body or TrialStartRequest()).trial_type,
                                  meta=request_meta(request))
    return TrialStartResponse(trial_id=trial.trial_id, start_date=trial.started_at, end_date=trial_lifecycle.end_date(trial),
                              credits=trial.credits, max_requests=trial.max_requests)


@router.get("/trials/status", response_model=TrialStatusResponse, tags=["trials"], summary="The caller's trial")
def trial_status(caller: Caller = authorized("trials")) -> TrialStatusResponse:
    view = trial_lifecycle.status(users.require_user(caller.user_id))
    return TrialStatusResponse(trial=TrialStatusView(**view) if view else None)


@router.post("/trials/convert", response_model=TrialConvertResponse, tags=["trials"],
             summary="Convert the trial to a paid plan: through payment only",
             description="Opens a Stripe Checkout Session in subscription mode for `plan_id` (as POST "
                         "/subscriptions/checkout does). Nothing changes now: when Stripe reports the subscription paid, "
                         "the account moves to the plan and the trial is converted, keeping the trial credits it has.")
def convert_trial(body: TrialConvertRequest, request: Request, idempotency_key: str | None = IDEMPOTENCY,
                  caller: Caller = authorized("trials")) -> TrialConvertResponse:
    user = users.require_user(caller.user_id)
    trial_lifecycle.check_convertible(user)
    plan = subscription_logic.paid_plan(body.plan_id)
    result = subscription_logic.checkout(user, plan, success_url=body.success_url, cancel_url=body.cancel_url,
                                         idempotency_key=idempotency_key, meta=request_meta(request), source="trial")
    return TrialConvertResponse(message="Complete the payment at checkout_url: the trial converts when Stripe confirms it",
                                new_plan=plan.plan_name, plan_id=plan.id, status=result["status"],
                                checkout_url=result.get("checkout_url"), session_id=result.get("session_id"))


# ---------------------------------------------------------------- coupons


@router.post("/coupons", response_model=CouponResponse, tags=["coupons"], summary="Create a coupon (admin)",
             description=PERCENTAGE_MEANS)
def create_coupon(body: CreateCouponRequest, request: Request,
                  caller: Caller = authorized("coupons", admin=True)) -> CouponResponse:
    coupon = logic.new_coupon(body, caller.user_id)
    return CouponResponse(coupon=CouponView.of(coupons.create(coupon, meta=request_meta(request))))


@router.get("/coupons", response_model=CouponList, tags=["coupons"], summary="List coupons (admin)")
def list_coupons(is_active: bool | None = None, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
                 caller: Caller = authorized("coupons", admin=True)) -> CouponList:
    found = coupons.list_all(is_active=is_active)
    return CouponList(data=[CouponView.of(c) for c in found[offset:offset + limit]], total=len(found), limit=limit,
                      offset=offset)


@router.post("/coupons/apply", response_model=ApplyCouponResponse, tags=["coupons"], summary="Apply a coupon",
             description=PERCENTAGE_MEANS)
def apply_coupon(body: ApplyCouponRequest, request: Request, caller: Caller = authorized("coupons")) -> ApplyCouponResponse:
    coupon, added = coupons.apply(caller.user_id, body.code, meta=request_meta(request))
    balance = users.require_user(caller.user_id).credits
    return ApplyCouponResponse(message=f"Coupon applied successfully: {coupon.grants()}", discount_type=coupon.discount_type,
                               discount_amount=coupon.discount_value, credits_added=added, new_balance=balance)


@router.get("/coupons/{code}", response_model=PublicCouponResponse, tags=["coupons"], summary="One coupon's terms")
def get_coupon(code: str, caller: Caller = authorized("coupons")) -> PublicCouponResponse:
    c = coupons.require(code)
    return PublicCouponResponse(coupon=PublicCouponView(
        code=c.code, discount_type=c.discount_type, discount_value=c.discount_value, is_active=c.is_active,
        valid_from=c.valid_from, valid_to=c.valid_to, description=c.description, grants=c.grants()))


# ---------------------------------------------------------------- referrals


@router.get("/referrals/code", response_model=ReferralCodeResponse, tags=["referrals"], summary="The caller's referral code")
def referral_code(caller: Caller = authorized("referrals")) -> ReferralCodeResponse:
    code = referrals.code_for(caller.user_id)
    stats = referrals.stats(caller.user_id)
    return ReferralCodeResponse(referral_code=code, total_referrals=stats["total_referrals"],
                                total_rewards=stats["total_rewards"], pending_rewards=stats["pending_rewards"])


@router.post("/referrals/apply", response_model=ApplyReferralResponse, tags=["referrals"],
             summary=f"Apply a referral code (new accounts, within {referrals.APPLY_WINDOW_DAYS} days of sign-up)")
def apply_referral(body: ApplyReferralRequest, request: Request,
                   caller: Caller = authorized("referrals")) -> ApplyReferralResponse:
    referral, result = referrals.apply(caller.user_id, body.referral_code, meta=request_meta(request))
    return ApplyReferralResponse(message="Referral code applied successfully", reward_amount=referral.referred_reward,
                                 credits_added=referral.referred_reward, new_balance=result.balance)


@router.get("/referrals/stats", response_model=ReferralStatsResponse, tags=["referrals"], summary="Referral statistics")
def referral_stats(caller: Caller = authorized("referrals")) -> ReferralStatsResponse:
    stats = referrals.stats(caller.user_id)
    return ReferralStatsResponse(**{**stats, "recent_referrals": [ReferralView.of(r) for r in stats["recent_referrals"]]})


@router.get("/referrals/history", response_model=ReferralHistoryResponse, tags=["referrals"], summary="Referral history")
def referral_history(status: Literal["pending", "completed", "paid"] | None = None,
                     limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
                     caller: Caller = authorized("referrals")) -> ReferralHistoryResponse:
    found = [r for r in referrals.of_referrer(caller.user_id) if status is None or r.status == status]
    return ReferralHistoryResponse(data=[ReferralView.of(r) for r in found[offset:offset + limit]], total=len(found),
                                   limit=limit, offset=offset)
