"""Stripe Billing as the tests see it: subscription, invoice and SetupIntent objects in the shape of Stripe's API
reference (API version 2025-03-31.basil and later: the period on the subscription item, the subscription of an invoice
under ``parent.subscription_details``), events carrying them, and respx handlers for the Billing endpoints the gateway
calls (customers, Checkout in subscription/setup mode, subscription updates, invoice preview and list, portal
sessions, off-session PaymentIntents)."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

import httpx
import respx

from tests.payments import stripe_fakes as sf

MONTH = 30 * 86400
PRICES = {"pro": "price_1PzProMonthly0000000001", "enterprise": "price_1PzEntMonthly000000001",
          "license_pro": "price_1PzLicProMonthly00001"}
AMOUNTS = {"pro": 2999, "enterprise": 29999, "license_pro": 799}


def price(slug: str) -> dict[str, Any]:
    return {"id": PRICES[slug], "object": "price", "active": True, "billing_scheme": "per_unit", "created": 1700000000,
            "currency": "eur" if slug.startswith("license") else "usd", "livemode": False, "lookup_key": slug,
            "metadata": {}, "product": "prod_" + slug.replace("_", ""), "recurring": {
                "interval": "month", "interval_count": 1, "usage_type": "licensed"},
            "tax_behavior": "unspecified", "type": "recurring", "unit_amount": AMOUNTS[slug]}


class Subscription:
    """One Stripe subscription whose successive states the tests turn into events (``created`` chosen by the test)."""

    def __init__(self, user_id: str, customer: str, slug: str, *, start: int, status: str = "active") -> None:
        self.id = "sub_1" + secrets.token_hex(11)
        self.item_id = "si_" + secrets.token_hex(7)
        self.user_id, self.customer, self.slug, self.status = user_id, customer, slug, status
        self.start, self.period_start, self.period_end = start, start, start + MONTH
        self.cancel_at_period_end, self.canceled_at, self.ended_at = False, None, None

    def object(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "subscription", "application": None,
            "automatic_tax": {"enabled": False, "liability": None}, "billing_cycle_anchor": self.start,
            "cancel_at": self.period_end if self.cancel_at_period_end else None,
            "cancel_at_period_end": self.cancel_at_period_end, "canceled_at": self.canceled_at,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically", "created": self.start, "currency": price(self.slug)["currency"],
            "customer": self.customer, "default_payment_method": "pm_1Card" + "0" * 18, "description": None,
            "discounts": [], "ended_at": self.ended_at,
            "items": {"object": "list", "data": [{
                "id": self.item_id, "object": "subscription_item", "created": self.start,
                "current_period_end": self.period_end, "current_period_start": self.period_start, "discounts": [],
                "metadata": {}, "price": price(self.slug), "quantity": 1, "subscription": self.id, "tax_rates": [],
            }], "has_more": False, "total_count": 1, "url": f"/v1/subscription_items?subscription={self.id}"},
            "latest_invoice": "in_1" + secrets.token_hex(11), "livemode": False,
            "metadata": {"user_id": self.user_id}, "pending_update": None, "start_date": self.start,
            "status": self.status, "trial_end": None, "trial_start": None,
        }

    def event(self, kind: str, created: int, event_id: str | None = None) -> dict[str, Any]:
        ev = sf.event(f"customer.subscription.{kind}", self.object(), event_id)
        ev["created"] = created
        return ev

    def renew(self) -> None:
        self.period_start, self.period_end = self.period_end, self.period_end + MONTH


def invoice(sub: Subscription, *, paid: bool, created: int, billing_reason: str = "subscription_cycle") -> dict[str, Any]:
    cents = AMOUNTS[sub.slug]
    iid = "in_1" + secrets.token_hex(11)
    return {
        "id": iid, "object": "invoice", "account_country": "US", "amount_due": cents,
        "amount_paid": cents if paid else 0, "amount_remaining": 0 if paid else cents, "attempt_count": 1,
        "billing_reason": billing_reason, "collection_method": "charge_automatically", "created": created,
        "currency": price(sub.slug)["currency"], "customer": sub.customer,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_1Test/test_{iid}", "invoice_pdf":
            f"https://pay.stripe.com/invoice/acct_1Test/test_{iid}/pdf", "livemode": False, "metadata": {},
        "number": f"ABCD1234-{secrets.randbelow(9000) + 1000}",
        "parent": {"type": "subscription_details", "quote_details": None,
                   "subscription_details": {"metadata": {"user_id": sub.user_id}, "subscription": sub.id}},
        "period_end": sub.period_end, "period_start": sub.period_start, "status": "paid" if paid else "open",
    }


def setup_intent(user_id: str, customer: str, payment_method: str) -> dict[str, Any]:
    return {"id": "seti_1" + secrets.token_hex(11), "object": "setup_intent", "created": int(time.time()),
            "customer": customer, "livemode": False, "metadata": {"user_id": user_id, "purpose": "auto_topup"},
            "payment_method": payment_method, "payment_method_types": ["card"], "status": "succeeded",
            "usage": "off_session"}


class FakeBilling:
    """respx handlers answering the real ``stripe`` library; every request's form is kept per endpoint."""

    def __init__(self) -> None:
        self.calls: dict[str, list[dict[str, str]]] = {}
        self.headers: dict[str, list[httpx.Headers]] = {}
        self.invoices: dict[str, list[dict[str, Any]]] = {}  # by customer, newest first
        self.decline = False  # off-session PaymentIntents fail with card_declined
        self.preview_cents: int | None = 2999
        self.mock: respx.MockRouter | None = None

    def _form(self, name: str, request: httpx.Request) -> dict[str, str]:
        form = dict(parse_qsl(request.content.decode())) if request.method == "POST" else dict(request.url.params)
        self.calls.setdefault(name, []).append(form)
        self.headers.setdefault(name, []).append(request.headers)
        return form

    def install(self, mock: respx.MockRouter) -> None:
        mock.post(f"{sf.API}/v1/customers").mock(side_effect=self.customer)
        mock.post(f"{sf.API}/v1/checkout/sessions").mock(side_effect=self.checkout)
        mock.post(url__regex=rf"{sf.API}/v1/subscriptions/sub_\w+").mock(side_effect=self.subscription_update)
        mock.post(f"{sf.API}/v1/invoices/create_preview").mock(side_effect=self.preview)
        mock.get(f"{sf.API}/v1/invoices").mock(side_effect=self.invoice_list)
        mock.post(f"{sf.API}/v1/billing_portal/sessions").mock(side_effect=self.portal)
        mock.post(f"{sf.API}/v1/payment_intents").mock(side_effect=self.payment_intent)

    def customer(self, request: httpx.Request) -> httpx.Response:
        form = self._form("customers", request)
        return httpx.Response(200, json={"id": "cus_" + secrets.token_hex(7), "object": "customer",
                                         "created": int(time.time()), "email": form.get("email"), "livemode": False,
                                         "metadata": {"user_id": form.get("metadata[user_id]")}, "name": form.get("name")})

    def checkout(self, request: httpx.Request) -> httpx.Response:
        form = self._form("checkout", request)
        sid = "cs_test_" + secrets.token_hex(16)
        return httpx.Response(200, json={
            "id": sid, "object": "checkout.session", "mode": form["mode"], "customer": form.get("customer"),
            "client_reference_id": form.get("client_reference_id"), "livemode": False, "payment_status": "unpaid",
            "status": "open", "subscription": None, "setup_intent": None, "success_url": form["success_url"],
            "url": f"https://checkout.stripe.com/c/pay/{sid}#fid", "created": int(time.time()),
            "expires_at": int(time.time()) + 86400,
        })

    def subscription_update(self, request: httpx.Request) -> httpx.Response:
        form = self._form("subscription_update", request)
        sub_id = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(200, json={"id": sub_id, "object": "subscription", "status": "active",
                                         "cancel_at_period_end": form.get("cancel_at_period_end") == "true",
                                         "items": {"object": "list", "data": []}, "livemode": False})

    def preview(self, request: httpx.Request) -> httpx.Response:
        self._form("preview", request)
        if self.preview_cents is None:
            return httpx.Response(400, json={"error": {"code": "invoice_upcoming_none", "type": "invalid_request_error",
                                                       "message": "No upcoming invoices for customer"}})
        return httpx.Response(200, json={"object": "invoice", "amount_due": self.preview_cents, "currency": "usd",
                                         "livemode": False, "status": "draft"})

    def invoice_list(self, request: httpx.Request) -> httpx.Response:
        form = self._form("invoice_list", request)
        rows = self.invoices.get(form.get("customer", ""), [])
        if form.get("starting_after"):
            ids = [r["id"] for r in rows]
            rows = rows[ids.index(form["starting_after"]) + 1:] if form["starting_after"] in ids else []
        limit = int(form.get("limit", 10))
        return httpx.Response(200, json={"object": "list", "data": rows[:limit], "has_more": len(rows) > limit,
                                         "url": "/v1/invoices"})

    def portal(self, request: httpx.Request) -> httpx.Response:
        form = self._form("portal", request)
        bps = "bps_1" + secrets.token_hex(11)
        return httpx.Response(200, json={"id": bps, "object": "billing_portal.session", "customer": form["customer"],
                                         "livemode": False, "return_url": form.get("return_url"),
                                         "url": f"https://billing.stripe.com/p/session/test_{bps}"})

    def payment_intent(self, request: httpx.Request) -> httpx.Response:
        form = self._form("payment_intents", request)
        pi = sf.new_pi()
        if self.decline:
            return httpx.Response(402, json={"error": {
                "code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card was declined.",
                "type": "card_error", "payment_intent": {"id": pi, "object": "payment_intent", "status":
                                                         "requires_payment_method"}}})
        return httpx.Response(200, json={
            "id": pi, "object": "payment_intent", "amount": int(form["amount"]), "amount_received": int(form["amount"]),
            "currency": form["currency"], "customer": form.get("customer"), "livemode": False,
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            "payment_method": form.get("payment_method"), "status": "succeeded", "created": int(time.time()),
        })
