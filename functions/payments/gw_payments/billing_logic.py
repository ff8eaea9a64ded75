"""The customer's own billing pages (no HTTP here): Stripe's customer portal, invoices, and saving a card for auto
top-up. Each acts on the caller's own Stripe Customer only; no request names another."""

from __future__ import annotations

from typing import Any

from gateway_common import audit, customers, stripe_client
from gateway_common.errors import NotFound
from gateway_common.models import UserRecord
from gateway_common.settings import get_settings


def _customer(user: UserRecord) -> str:
    if not user.stripe_customer_id:
        raise NotFound("You have no billing account yet: it is created with your first subscription or saved card",
                       code="no_billing_account")
    return user.stripe_customer_id


def portal(user: UserRecord, return_url: str | None, meta: dict[str, str | None]) -> Any:
    customer = _customer(user)
    session = stripe_client.call("open the customer portal", lambda: stripe_client.client().v1.billing_portal.sessions.create(
        params={"customer": customer, "return_url": return_url or get_settings().billing_return_url}))
    audit.record(user_id=user.user_id, action="billing_portal_opened", resource_type="billing", resource_id=customer,
                 details={}, **meta)
    return session


def invoices(user: UserRecord, *, limit: int, starting_after: str | None) -> tuple[list[Any], bool]:
    if not user.stripe_customer_id:
        return [], False
    params: dict[str, Any] = {"customer": user.stripe_customer_id, "limit": limit}
    if starting_after:
        params["starting_after"] = starting_after
    page = stripe_client.call("list the invoices", lambda: stripe_client.client().v1.invoices.list(params=params))
    # the customer filter is Stripe's; checking it again costs nothing and keeps anyone else's invoice out
    rows = [i for i in page.data if _ref(i.customer) == user.stripe_customer_id]
    return rows, bool(page.has_more)


def _ref(value: Any) -> str | None:
    return value if isinstance(value, str) or value is None else getattr(value, "id", None)


def card_setup(user: UserRecord, *, success_url: str | None, cancel_url: str | None, meta: dict[str, str | None]) -> Any:
    """A Checkout Session in setup mode: the card saved there is the one auto top-up charges off-session."""
    customer = customers.ensure(user)
    back = success_url or get_settings().billing_return_url
    session = stripe_client.call("open the card setup", lambda: stripe_client.client().v1.checkout.sessions.create(params={
        "mode": "setup", "customer": customer, "currency": user.currency, "payment_method_types": ["card"],
        "client_reference_id": user.user_id, "success_url": back, "cancel_url": cancel_url or back,
        "metadata": {"user_id": user.user_id, "purpose": "auto_topup"},
        "setup_intent_data": {"metadata": {"user_id": user.user_id, "purpose": "auto_topup"}},
    }))
    audit.record(user_id=user.user_id, action="auto_topup_setup_created", resource_type="auto_topup",
                 resource_id=session.id, details={}, **meta)
    return session
