"""Buying, changing and cancelling plans through Stripe (no HTTP here). Nothing here changes a plan: every request
only asks Stripe, and the plan follows when the webhook reports the subscription paid (gateway_common.subscriptions).

- No subscription (or only ended ones): a Checkout Session in subscription mode for the plan's configured Price.
- An active subscription: the Price of its item is changed in Stripe. Upgrade: prorated and invoiced at once, with
  ``payment_behavior=pending_if_incomplete`` so Stripe applies the new Price only when that invoice is paid. Downgrade:
  no proration; the higher plan stays until the end of the period already paid.
- Cancel / resume: ``cancel_at_period_end`` true / false; the plan stays until the period's end either way.
"""

from __future__ import annotations

from typing import Any

from gateway_common import audit, customers, plans, stripe_client, subscriptions
from gateway_common.errors import BadRequest, Conflict, ServiceUnavailable, UpstreamError
from gateway_common.models import UserRecord
from gateway_common.plans import Plan
from gateway_common.settings import get_settings
from gateway_common.subscriptions import SubState

LIVE = ("active", "past_due", "unpaid")


def paid_plan(plan_ref: int | str) -> Plan:
    plan = plans.get_plan(plan_ref)
    if not plan.public or not plan.is_paid:
        paid = ", ".join(f"{p.id} ({p.display_name})" for p in plans.all_plans() if p.public and p.is_paid)
        raise BadRequest(f"Plan '{plan_ref}' is not a paid plan; choose one of: {paid}")
    return plan


def live_subscription(user: UserRecord) -> SubState | None:
    state = subscriptions.of_user(user)
    return state if state is not None and state.status in LIVE else None


def checkout(user: UserRecord, plan: Plan, *, success_url: str | None, cancel_url: str | None,
             idempotency_key: str | None, meta: dict[str, str | None], source: str) -> dict[str, Any]:
    price = plans.require_price_id(plan)
    state = live_subscription(user)
    if state is not None:
        return change(user, state, plan, price, meta=meta)
    customer = customers.ensure(user)
    back = success_url or get_settings().billing_return_url
    metadata = {"user_id": user.user_id, "plan_id": str(plan.id), "source": source}
    params = {
        "mode": "subscription", "customer": customer, "client_reference_id": user.user_id,
        "line_items": [{"price": price, "quantity": 1}], "metadata": metadata,
        "subscription_data": {"metadata": metadata}, "success_url": back, "cancel_url": cancel_url or back,
    }
    options = {"idempotency_key": f"sub-checkout:{user.user_id}:{plan.id}:{idempotency_key}"} if idempotency_key else None
    session = stripe_client.call("open the subscription checkout", lambda: stripe_client.client().v1.checkout.sessions.create(
        params=params, options=options))
    audit.record(user_id=user.user_id, action="subscription_checkout_created", resource_type="subscription",
                 resource_id=session.id, details={"plan_id": plan.id, "price_id": price, "source": source}, **meta)
    return {"status": "pending_payment", "checkout_url": session.url, "session_id": session.id, "plan_id": plan.id,
            "takes_effect": "when Stripe reports the first invoice paid"}


def change(user: UserRecord, state: SubState, plan: Plan, price: str, *, meta: dict[str, str | None]) -> dict[str, Any]:
    current = plans.get_plan(state.plan_id) if state.plan_id else plans.get_plan(user.plan_id)
    if state.price_id == price:
        raise Conflict(f"Your subscription is already on the {plan.display_name} plan", code="already_subscribed")
    if state.status != "active":
        raise Conflict("Your subscription has an unpaid invoice: pay it (POST /billing/portal) before changing plans",
                       code="subscription_past_due")
    if current.currency != plan.currency:
        raise BadRequest(f"The {plan.display_name} plan is billed in {plan.currency.upper()} and your subscription in "
                         f"{current.currency.upper()}: cancel it, and subscribe again when it ends")
    downgrade = plan.monthly_price < current.monthly_price
    params: dict[str, Any] = {
        "items": [{"id": _item_id(state), "price": price}],
        "metadata": {"user_id": user.user_id, "plan_id": str(plan.id)},
        "proration_behavior": "none" if downgrade else "always_invoice",
    }
    if not downgrade:
        params["payment_behavior"] = "pending_if_incomplete"
    stripe_client.call("change the subscription", lambda: stripe_client.client().v1.subscriptions.update(
        state.subscription_id, params=params))
    audit.record(user_id=user.user_id, action="subscription_change_requested", resource_type="subscription",
                 resource_id=state.subscription_id,
                 details={"from_plan_id": current.id, "to_plan_id": plan.id, "downgrade": downgrade}, **meta)
    if downgrade:
        return {"status": "scheduled", "plan_id": plan.id, "subscription_id": state.subscription_id,
                "takes_effect": "at the end of the current billing period"}
    return {"status": "pending_payment", "plan_id": plan.id, "subscription_id": state.subscription_id,
            "takes_effect": "when Stripe reports the prorated invoice paid"}


def _item_id(state: SubState) -> str:
    if not state.item_id:
        raise Conflict("The subscription's details have not arrived from Stripe yet; try again in a minute")
    return state.item_id


def set_cancel(user: UserRecord, *, cancel: bool, meta: dict[str, str | None]) -> SubState:
    state = live_subscription(user)
    if state is None:
        raise Conflict("You have no active subscription", code="no_subscription")
    if state.cancel_at_period_end == cancel:
        raise Conflict("Your subscription already ends at the period's end" if cancel else
                       "Your subscription is not set to end: nothing to resume", code="no_change")
    stripe_client.call("update the subscription", lambda: stripe_client.client().v1.subscriptions.update(
        state.subscription_id, params={"cancel_at_period_end": cancel}))
    audit.record(user_id=user.user_id, action="subscription_cancel_requested" if cancel else "subscription_resumed",
                 resource_type="subscription", resource_id=state.subscription_id,
                 details={"period_end": state.period_end}, **meta)
    return state.model_copy(update={"cancel_at_period_end": cancel})


def next_invoice(state: SubState) -> tuple[int, str] | None:
    """The amount Stripe will invoice next (its preview: prorations, discounts, tax), None when nothing is due."""
    if state.status != "active" or state.cancel_at_period_end:
        return None
    try:
        preview = stripe_client.call("preview the next invoice", lambda: stripe_client.client().v1.invoices.create_preview(
            params={"subscription": state.subscription_id}))
    except (UpstreamError, ServiceUnavailable):
        return None  # the rest of the view is ours and still true; the figure is Stripe's to give
    return int(preview.amount_due), str(preview.currency)
