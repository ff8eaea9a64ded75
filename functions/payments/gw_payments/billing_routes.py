"""HTTP edge of subscriptions, the customer portal, invoices and auto top-up (the caller's own account only)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from fastapi import APIRouter, Query, Request

from gateway_common import autotopup, plans, subscriptions, users
from gateway_common.auth import Caller
from gateway_common.models import AutoTopup, UserRecord
from gateway_common.timeutil import iso
from gateway_common.web import authorized, request_meta

from . import billing_logic, subscription_logic
from .billing_schemas import (
    AutoTopupRequest,
    AutoTopupView,
    CurrentSubscription,
    InvoiceList,
    InvoiceView,
    NextInvoice,
    PendingChange,
    PortalRequest,
    PortalResponse,
    ReturnUrls,
    SetupResponse,
    SubscriptionCheckoutRequest,
    SubscriptionCheckoutResponse,
)
from .routes import IDEMPOTENCY

router = APIRouter()


def _iso(ts: int | None) -> str | None:
    return iso(datetime.fromtimestamp(ts, tz=UTC)) if ts else None


@router.post("/subscriptions/checkout", response_model=SubscriptionCheckoutResponse, tags=["subscriptions"],
             summary="Buy or change a paid plan (Stripe Checkout in subscription mode; the plan changes when paid)")
def subscription_checkout(body: SubscriptionCheckoutRequest, request: Request, idempotency_key: str | None = IDEMPOTENCY,
                          caller: Caller = authorized("subscriptions")) -> SubscriptionCheckoutResponse:
    user = users.require_user(caller.user_id)
    result = subscription_logic.checkout(user, subscription_logic.paid_plan(body.plan_id), success_url=body.success_url,
                                         cancel_url=body.cancel_url, idempotency_key=idempotency_key,
                                         meta=request_meta(request), source="subscriptions")
    return SubscriptionCheckoutResponse(**result)


@router.get("/subscriptions/current", response_model=CurrentSubscription, tags=["subscriptions"],
            summary="The caller's plan, subscription status, period end and next invoice")
def current_subscription(caller: Caller = authorized("subscriptions")) -> CurrentSubscription:
    user = users.require_user(caller.user_id)
    plan = plans.get_plan(user.plan_id)
    state = subscriptions.of_user(user)
    view = CurrentSubscription(plan_id=plan.id, plan_name=plan.display_name, status="none")
    if state is None:
        return view
    due = subscription_logic.next_invoice(state)
    pending = None
    if state.due_at:
        decided = subscriptions.decide(state, user, float(state.due_at))
        if decided.plan_id != user.plan_id:
            target = plans.get_plan(decided.plan_id)
            pending = PendingChange(plan_id=target.id, plan_name=target.display_name, at=_iso(state.due_at) or "")
    return view.model_copy(update={
        "status": state.status, "subscription_id": state.subscription_id,
        "current_period_end": _iso(state.period_end), "cancel_at_period_end": state.cancel_at_period_end,
        "next_invoice": NextInvoice(amount=Decimal(due[0]) / 100, currency=due[1]) if due else None,
        "pending_change": pending,
    })


@router.post("/subscriptions/cancel", response_model=CurrentSubscription, tags=["subscriptions"],
             summary="Cancel at the end of the paid period (the plan stays until then)")
def cancel_subscription(request: Request, caller: Caller = authorized("subscriptions")) -> CurrentSubscription:
    return _after_cancel(caller, request, cancel=True)


@router.post("/subscriptions/resume", response_model=CurrentSubscription, tags=["subscriptions"],
             summary="Undo a cancellation before the period ends")
def resume_subscription(request: Request, caller: Caller = authorized("subscriptions")) -> CurrentSubscription:
    return _after_cancel(caller, request, cancel=False)


def _after_cancel(caller: Caller, request: Request, *, cancel: bool) -> CurrentSubscription:
    user = users.require_user(caller.user_id)
    state = subscription_logic.set_cancel(user, cancel=cancel, meta=request_meta(request))
    plan = plans.get_plan(user.plan_id)
    return CurrentSubscription(plan_id=plan.id, plan_name=plan.display_name, status=state.status,
                               subscription_id=state.subscription_id, current_period_end=_iso(state.period_end),
                               cancel_at_period_end=cancel)


@router.post("/billing/portal", response_model=PortalResponse, tags=["billing"],
             summary="A Stripe customer-portal session for the caller (cards, invoices, cancel)")
def billing_portal(request: Request, body: PortalRequest | None = None,
                   caller: Caller = authorized("billing")) -> PortalResponse:
    session = billing_logic.portal(users.require_user(caller.user_id), (body or PortalRequest()).return_url,
                                   request_meta(request))
    return PortalResponse(url=session.url)


@router.get("/billing/invoices", response_model=InvoiceList, tags=["billing"], summary="The caller's invoices, newest first")
def billing_invoices(limit: int = Query(20, ge=1, le=100),
                     starting_after: str | None = Query(None, pattern=r"^in_[A-Za-z0-9]{1,100}$",
                                                        description="next_cursor of the previous page"),
                     caller: Caller = authorized("billing")) -> InvoiceList:
    rows, more = billing_logic.invoices(users.require_user(caller.user_id), limit=limit, starting_after=starting_after)
    data = [InvoiceView(id=i.id, number=i.number, amount_due=Decimal(i.amount_due) / 100,
                        amount_paid=Decimal(i.amount_paid) / 100, currency=i.currency, status=i.status,
                        hosted_invoice_url=i.hosted_invoice_url, invoice_pdf=i.invoice_pdf, created=i.created)
            for i in rows]
    return InvoiceList(data=data, has_more=more, next_cursor=data[-1].id if more and data else None)


@router.post("/billing/auto-topup/setup", response_model=SetupResponse, tags=["billing"],
             summary="Save a card for auto top-up (Stripe Checkout in setup mode)")
def auto_topup_setup(request: Request, body: ReturnUrls | None = None,
                     caller: Caller = authorized("billing")) -> SetupResponse:
    urls = body or ReturnUrls()
    session = billing_logic.card_setup(users.require_user(caller.user_id), success_url=urls.success_url,
                                       cancel_url=urls.cancel_url, meta=request_meta(request))
    return SetupResponse(checkout_url=session.url, session_id=session.id)


@router.get("/billing/auto-topup", response_model=AutoTopupView, tags=["billing"], summary="The caller's auto top-up")
def get_auto_topup(caller: Caller = authorized("billing")) -> AutoTopupView:
    return _topup_view(users.require_user(caller.user_id))


@router.put("/billing/auto-topup", response_model=AutoTopupView, tags=["billing"],
            summary="Set auto top-up: below `threshold`, buy `amount` credits with the saved card (once per crossing)")
def put_auto_topup(body: AutoTopupRequest, caller: Caller = authorized("billing")) -> AutoTopupView:
    autotopup.configure(users.require_user(caller.user_id), enabled=body.enabled, threshold=body.threshold,
                        amount=body.amount)
    return _topup_view(users.require_user(caller.user_id))


def _topup_view(user: UserRecord) -> AutoTopupView:
    rule = user.auto_topup or AutoTopup()
    return AutoTopupView(enabled=rule.enabled, threshold=rule.threshold, amount=rule.amount,
                         card_saved=bool(rule.payment_method), failures=rule.failures, pending=rule.pending is not None,
                         disabled_reason=rule.disabled_reason)
