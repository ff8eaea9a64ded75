"""POST /api/stripe/checkout and /api/stripe/payment-intent: the real stripe library, Stripe's API mocked at httpx."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import respx

from gateway_common import audit, db, users
from tests.helpers import assert_error, bearer
from tests.payments import stripe_fakes as sf


@pytest.fixture
def stripe_api(stripe_env):
    fake = sf.FakeStripeApi()
    with respx.mock(assert_all_called=False) as mock:
        mock.post(f"{sf.API}/v1/checkout/sessions").mock(side_effect=fake.checkout)
        mock.post(f"{sf.API}/v1/payment_intents").mock(side_effect=fake.payment_intent)
        yield fake, mock


def test_checkout_session_carries_user_and_credits_in_metadata(client, demo, stripe_api):
    fake, _ = stripe_api
    response = client.post("/api/stripe/checkout", headers={**bearer(demo["live"]["key"]), "Idempotency-Key": "buy-1"},
                           json={"amount": 50.00, "currency": "usd", "success_url": "https://example.com/success",
                                 "cancel_url": "https://example.com/cancel"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["session_id"].startswith("cs_test_")
    assert body["checkout_url"] == f"https://checkout.stripe.com/c/pay/{body['session_id']}#fid"
    assert body["amount"] == 50.0 and body["amount_charged"] == 50.0 and body["coupon_code"] is None
    form = fake.requests[0]
    uid = demo["live"]["user_id"]
    assert form["mode"] == "payment" and form["line_items[0][price_data][unit_amount]"] == "5000"
    assert form["metadata[user_id]"] == uid and form["metadata[credits]"] == "50.00"
    assert form["payment_intent_data[metadata][user_id]"] == uid  # so payment_intent.* events can credit too
    assert form["client_reference_id"] == uid and form["cancel_url"] == "https://example.com/cancel"
    headers = fake.headers[0]
    assert headers["authorization"] == f"Bearer {sf.SECRET_KEY}"
    assert headers["idempotency-key"] == f"checkout:{uid}:buy-1"
    created = [i for i in db.table(audit.AUDIT).scan()["Items"] if i.get("action") == "checkout_created"]
    assert created[0]["resource_id"] == body["session_id"]
    assert users.require_user(uid).credits == Decimal("25.00")  # credits arrive only with the webhook


def test_payment_intent_returns_client_secret(client, demo, stripe_api):
    fake, _ = stripe_api
    response = client.post("/api/stripe/payment-intent", headers=bearer(demo["live"]["key"]), json={"amount": "12.34"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["payment_intent_id"].startswith("pi_3") and body["client_secret"].startswith(body["payment_intent_id"] + "_secret_")
    assert body["currency"] == "usd" and body["amount"] == 12.34
    assert fake.requests[0]["amount"] == "1234" and fake.requests[0]["metadata[credits]"] == "12.34"
    assert fake.requests[0]["automatic_payment_methods[enabled]"] == "true"


@pytest.mark.parametrize(("body", "fragments"), [
    ({"amount": 0.5}, ("amount", "greater than or equal to 1")),
    ({"amount": 10000.01}, ("amount", "less than or equal to 10000")),
    ({"amount": "12.345"}, ("amount", "2 decimal places")),
    ({"amount": 10, "currency": "jpy"}, ("currency", "unsupported currency")),
    ({"amount": 10, "currency": "eur"}, ("billed in 'usd'",)),
    ({}, ("amount",)),
    ({"amount": 10, "bonus": 1}, ("bonus",)),
])
def test_amount_and_currency_are_checked(client, demo, stripe_api, body, fragments):
    fake, _ = stripe_api
    assert_error(client.post("/api/stripe/payment-intent", headers=bearer(demo["live"]["key"]), json=body), 400, *fragments)
    assert fake.requests == []


def test_checkout_needs_an_https_success_url_and_a_key(client, demo, stripe_api):
    assert_error(client.post("/api/stripe/checkout", headers=bearer(demo["live"]["key"]),
                             json={"amount": 5, "success_url": "ftp://x"}), 400, "success_url", "https")
    assert_error(client.post("/api/stripe/checkout", json={"amount": 5, "success_url": "https://x.io"}), 401)


def test_stripe_errors_become_502_and_missing_key_503(client, demo, stripe_api, monkeypatch):
    _, mock = stripe_api
    mock.post(f"{sf.API}/v1/payment_intents").mock(return_value=sf.card_declined_error())
    assert_error(client.post("/api/stripe/payment-intent", headers=bearer(demo["live"]["key"]), json={"amount": 5}),
                 502, "stripe could not create the payment intent")
    mock.post(f"{sf.API}/v1/payment_intents").mock(return_value=httpx.Response(401, json={"error": {
        "message": "Invalid API Key provided: sk_test_****", "type": "invalid_request_error"}}))
    body = assert_error(client.post("/api/stripe/payment-intent", headers=bearer(demo["live"]["key"]), json={"amount": 5}),
                        503, "misconfigured")
    assert "sk_test" not in str(body)
    monkeypatch.delenv("STRIPE_SECRET_KEY")
    assert_error(client.post("/api/stripe/payment-intent", headers=bearer(demo["live"]["key"]), json={"amount": 5}),
                 503, "not configured", "STRIPE_SECRET_KEY")
