"""Fixtures of the money tests: Stripe secrets in the environment, webhook delivery, fresh users with keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway_common import apikeys, users
from tests.payments import stripe_fakes


@pytest.fixture
def stripe_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", stripe_fakes.SECRET_KEY)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", stripe_fakes.WEBHOOK_SECRET)


@pytest.fixture
def deliver(client: Any, stripe_env: None) -> Callable[..., Any]:
    """POST an event to the webhook exactly as Stripe does (raw JSON body + Stripe-Signature)."""

    def send(event: dict[str, Any], *, secret: str = stripe_fakes.WEBHOOK_SECRET) -> Any:
        payload = stripe_fakes.dumps(event)
        return client.post("/api/stripe/webhook", content=payload.encode(),
                           headers={"Stripe-Signature": stripe_fakes.sign(payload, secret), "Content-Type": "application/json"})

    return send


@pytest.fixture
def make_user(dynamo: Any) -> Callable[..., dict[str, str]]:
    counter = iter(range(1, 10_000))

    def make(name: str | None = None, currency: str = "usd") -> dict[str, str]:
        n = next(counter)
        user = users.create_user(username=name or f"user{n}", email=f"{name or 'user'}{n}@example.com", plan_id=1,
                                 currency=currency)
        key, record = apikeys.create_gw_key(user_id=user.user_id, key_name="k", environment="live")
        return {"user_id": user.user_id, "key": key, "key_id": record.key_id}

    return make


@pytest.fixture
def billing_api(stripe_env: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Stripe Billing mocked at the stripe library's httpx client, with the plans' Price ids configured."""
    import respx

    from tests.payments import stripe_billing

    for slug, price in stripe_billing.PRICES.items():
        monkeypatch.setenv(f"STRIPE_PRICE_{slug.upper()}", price)
    fake = stripe_billing.FakeBilling()
    with respx.mock(assert_all_called=False) as mock:
        fake.install(mock)
        fake.mock = mock  # a test adds its own routes (an upstream LLM) to the same router
        yield fake
