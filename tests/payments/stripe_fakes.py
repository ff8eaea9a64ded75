"""Stripe as the tests see it: webhook payloads signed exactly as Stripe signs them, and HTTP mocks of Stripe's API
answering the real ``stripe`` library (its httpx client) with the shape of Stripe's real responses."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

import httpx

WEBHOOK_SECRET = "whsec_test_" + "a1b2c3d4" * 4
SECRET_KEY = "sk_test_" + "51Hx" * 6
API = "https://api.stripe.com"


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<payload>" with the endpoint secret>."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or "evt_" + secrets.token_hex(12),
        "object": "event",
        "api_version": "2025-08-27.basil",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def checkout_session(user_id: str, *, cents: int, pi: str, credits: str | None = None, currency: str = "usd",
                     coupon: str | None = None, payment_status: str = "paid") -> dict[str, Any]:
    metadata = {"user_id": user_id, "credits": credits or f"{cents / 100:.2f}", "currency": currency}
    if coupon:
        metadata["coupon_code"] = coupon
    return {
        "id": "cs_test_" + secrets.token_hex(12), "object": "checkout.session", "amount_subtotal": cents,
        "amount_total": cents, "client_reference_id": user_id, "currency": currency, "customer": None,
        "customer_details": {"email": "buyer@example.com"}, "livemode": False, "metadata": metadata, "mode": "payment",
        "payment_intent": pi, "payment_status": payment_status, "status": "complete",
        "success_url": "https://example.com/success", "url": None, "created": int(time.time()),
    }


def payment_intent(user_id: str, *, cents: int, pi: str, status: str = "succeeded", currency: str = "usd",
                   credits: str | None = None, coupon: str | None = None) -> dict[str, Any]:
    metadata = {"user_id": user_id, "credits": credits or f"{cents / 100:.2f}", "currency": currency}
    if coupon:
        metadata["coupon_code"] = coupon
    failed = status == "requires_payment_method"
    return {
        "id": pi, "object": "payment_intent", "amount": cents, "amount_capturable": 0,
        "amount_received": 0 if failed else cents, "currency": currency, "customer": None, "livemode": False,
        "latest_charge": "ch_" + pi[3:], "metadata": metadata, "payment_method_types": ["card"], "status": status,
        "client_secret": f"{pi}_secret_{secrets.token_hex(8)}", "created": int(time.time()),
        "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds",
                               "message": "Your card has insufficient funds.", "type": "card_error"} if failed else None,
    }


def charge(pi: str, *, cents: int, refunded_cents: int, currency: str = "usd") -> dict[str, Any]:
    return {
        "id": "ch_" + pi[3:], "object": "charge", "amount": cents, "amount_captured": cents,
        "amount_refunded": refunded_cents, "captured": True, "currency": currency, "livemode": False,
        "paid": True, "payment_intent": pi, "refunded": refunded_cents >= cents, "status": "succeeded",
        "created": int(time.time()),
    }


def new_pi() -> str:
    return "pi_3" + secrets.token_hex(12)


class FakeStripeApi:
    """respx handlers for POST /v1/checkout/sessions and /v1/payment_intents (form-encoded, as the library sends)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.headers: list[httpx.Headers] = []

    def _form(self, request: httpx.Request) -> dict[str, str]:
        form = dict(parse_qsl(request.content.decode()))
        self.requests.append(form)
        self.headers.append(request.headers)
        return form

    @staticmethod
    def _metadata(form: dict[str, str], prefix: str = "metadata") -> dict[str, str]:
        return {k[len(prefix) + 1:-1]: v for k, v in form.items() if k.startswith(prefix + "[")}

    def checkout(self, request: httpx.Request) -> httpx.Response:
        form = self._form(request)
        sid = "cs_test_" + secrets.token_hex(16)
        cents = int(form["line_items[0][price_data][unit_amount]"])
        return httpx.Response(200, json={
            "id": sid, "object": "checkout.session", "amount_subtotal": cents, "amount_total": cents,
            "cancel_url": form.get("cancel_url"), "client_reference_id": form.get("client_reference_id"),
            "currency": form["line_items[0][price_data][currency]"], "livemode": False,
            "metadata": self._metadata(form), "mode": "payment", "payment_intent": None, "payment_status": "unpaid",
            "status": "open", "success_url": form["success_url"], "url": f"https://checkout.stripe.com/c/pay/{sid}#fid",
            "created": int(time.time()), "expires_at": int(time.time()) + 86400,
        })

    def payment_intent(self, request: httpx.Request) -> httpx.Response:
        form = self._form(request)
        pi = new_pi()
        return httpx.Response(200, json={
            "id": pi, "object": "payment_intent", "amount": int(form["amount"]), "amount_received": 0,
            "automatic_payment_methods": {"allow_redirects": "always", "enabled": True},
            "client_secret": f"{pi}_secret_{secrets.token_hex(12)}", "currency": form["currency"], "livemode": False,
            "metadata": self._metadata(form), "status": "requires_payment_method", "created": int(time.time()),
        })


def card_declined_error() -> httpx.Response:
    return httpx.Response(402, json={"error": {
        "code": "amount_too_small", "message": "Amount must be at least $0.50 usd",
        "param": "amount", "type": "invalid_request_error",
    }})


def dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, indent=2)  # Stripe sends pretty-printed JSON; the signature covers these exact bytes
