"""The money functions through their real Lambda handlers with their sample events from events/."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from types import SimpleNamespace

import pytest

from gateway_common import users
from local.paths import ROOT
from tests.payments import stripe_fakes as sf


@pytest.fixture(autouse=True)
def event_loop_for_mangum() -> Iterator[None]:
    """Mangum runs the app on the thread's current event loop; other tests in this worker may have closed it."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    loop.close()


def _context(name: str) -> SimpleNamespace:
    return SimpleNamespace(function_name=name, function_version="$LATEST", memory_limit_in_mb=512,
                           invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
                           aws_request_id=f"req-{name}", get_remaining_time_in_millis=lambda: 29_000)


def _sample(name: str, demo) -> dict:
    text = (ROOT / "events" / f"{name}.json").read_text()
    return json.loads(text.replace("{{live_key}}", demo["live"]["key"]).replace("{{live_user_id}}", demo["live"]["user_id"]))


def test_webhook_sample_event_signed_now_credits_once(demo, stripe_env):
    from gw_stripe_webhook.app import handler

    event = _sample("StripeWebhookFunction", demo)
    signature = sf.sign(event["body"])  # the placeholder {{stripe_signature}} stands for this
    event["headers"]["Stripe-Signature"] = signature
    event["multiValueHeaders"]["Stripe-Signature"] = [signature]
    first = handler(event, _context("StripeWebhookFunction"))
    assert first["statusCode"] == 200 and json.loads(first["body"])["outcome"] == "credited"
    again = handler(event, _context("StripeWebhookFunction"))
    assert json.loads(again["body"])["outcome"] == "duplicate"
    assert users.require_user(demo["live"]["user_id"]).credits == Decimal("45.00")


def test_payments_sample_event(demo):
    from gw_payments.app import handler

    response = handler(_sample("PaymentsFunction", demo), _context("PaymentsFunction"))
    assert response["statusCode"] == 200 and json.loads(response["body"]) == {"success": True, "trial": None}
