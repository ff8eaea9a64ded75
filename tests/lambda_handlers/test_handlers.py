"""Each function through its real Lambda handler (Mangum) with its sample event from events/."""

from __future__ import annotations

import asyncio
import importlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway_common import users
from local import template
from local.paths import ROOT
from tests.payments import stripe_fakes

EVENTS = ROOT / "events"
HTTP_FUNCTIONS = template.http_functions()


def _context(name: str) -> SimpleNamespace:
    return SimpleNamespace(
        function_name=name, function_version="$LATEST", memory_limit_in_mb=512,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        aws_request_id=f"req-{name}", get_remaining_time_in_millis=lambda: 29_000,
    )


def _event(path: Path, demo: dict[str, dict[str, str]]) -> dict:
    text = path.read_text()
    for name, info in demo.items():
        text = text.replace(f"{{{{{name}_key}}}}", info["key"]).replace(f"{{{{{name}_user_id}}}}", info["user_id"])
    event = json.loads(text)
    if "{{stripe_signature}}" in text:  # Stripe signs the raw body at delivery time; so do we
        signature = stripe_fakes.sign(event["body"])
        event["headers"]["Stripe-Signature"] = signature
        event["multiValueHeaders"]["Stripe-Signature"] = [signature]
    return event


@pytest.fixture(autouse=True)
def lambda_like_process(monkeypatch):
    """What a Lambda process has: a current event loop for Mangum (asyncio.run elsewhere leaves none) and its secrets."""
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", stripe_fakes.WEBHOOK_SECRET)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    loop.close()
    asyncio.set_event_loop(None)


def invoke(function: template.FunctionDef, demo: dict[str, dict[str, str]]) -> tuple[dict, dict]:
    module_name, _, attr = function.python_handler.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attr)
    response = handler(_event(EVENTS / f"{function.logical_id}.json", demo), _context(function.logical_id))
    body = json.loads(response["body"]) if response.get("body") else {}
    return response, body


@pytest.mark.parametrize("function", HTTP_FUNCTIONS, ids=lambda f: f.logical_id)
def test_every_http_function_has_a_sample_event_its_handler_answers(function, demo):
    assert (EVENTS / f"{function.logical_id}.json").exists(), f"events/{function.logical_id}.json is missing"
    response, _ = invoke(function, demo)
    assert 200 <= response["statusCode"] < 300, response
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    assert headers.get("x-request-id") == f"req-{function.logical_id}"  # the Lambda request id reaches the logs


def _function(logical_id: str) -> template.FunctionDef:
    return next(f for f in HTTP_FUNCTIONS if f.logical_id == logical_id)


def test_account_handler_returns_the_balance_with_rate_limit_headers(demo):
    response, body = invoke(_function("AccountFunction"), demo)
    assert body["credits"] == 25.0 and body["user_id"] == demo["live"]["user_id"]
    assert response["headers"]["x-ratelimit-limit"] == "120"  # GET /user/balance's own endpoint limit
    assert response["headers"]["x-ratelimit-remaining"] == "119"  # this one request counted


def test_admin_handler_credits_once_for_the_sample_idempotency_key(demo):
    for _ in range(2):
        _, body = invoke(_function("AdminFunction"), demo)
    assert body["new_balance"] == 30.0 and body["applied"] is False
    assert users.require_user(demo["live"]["user_id"]).credits == 30


def test_license_and_health_handlers(demo):
    _, validate = invoke(_function("LicenseFunction"), demo)
    assert validate["valid"] is True and validate["plan"]["display_name"] == "Pro - AI Inclusa"
    _, ping = invoke(_function("HealthFunction"), demo)
    assert ping["status"] == "pong"


def test_analytics_handler_answers_the_callers_stats_for_the_default_30_days(demo):
    _, body = invoke(_function("AnalyticsFunction"), demo)
    stats = body["statistics"]
    assert body["success"] is True and stats["total_requests"] == 0 and stats["currency"] == "usd"
    assert stats["group_by"] == "day" and stats["start_date"] < stats["end_date"] and stats["by_model"] == {}


def test_auth_handler_answers_the_public_config(demo):
    _, body = invoke(_function("AuthFunction"), demo)
    assert body == {"success": True, "privy_enabled": False, "privy_app_id": None, "session_ttl_seconds": 86400}


def test_chat_handler_answers_a_sandbox_completion_and_settles_it(demo):
    from gateway_common.usage import recent_for_user

    response, body = invoke(_function("ChatFunction"), demo)
    assert body["object"] == "chat.completion" and body["model"] == "openai/gpt-4o-mini"
    assert body["choices"][0]["message"]["content"].endswith("Hello, world!")
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"] > 0
    assert response["headers"]["x-gateway-provider"] == "sandbox"  # the sample uses the test key: the sandbox answers
    user = users.require_user(demo["live"]["user_id"])
    assert user.reserved == 0 and user.credits == 25  # settled, and a test key is never charged
    records = recent_for_user(demo["live"]["user_id"])
    assert len(records) == 1 and records[0]["cost"] == 0 and records[0]["total_tokens"] == body["usage"]["total_tokens"]


def test_iam_handler_answers_the_users_role(demo):
    _, body = invoke(_function("IamFunction"), demo)
    assert body["user_id"] == demo["live"]["user_id"] and body["role"] == "user"
    assert "keys:manage" in body["permissions"] and "admin:all" not in body["permissions"]


def test_models_handler_lists_the_catalog(demo):
    from gateway_common import catalog

    _, body = invoke(_function("ModelsFunction"), demo)
    ids = [m["id"] for m in body["data"]]
    assert body["success"] is True and "openai/gpt-4o-mini" in ids and len(ids) == len(set(ids)) > 1
    assert set(catalog.models()) >= set(ids)


def test_payments_handler_answers_the_trial_status(demo):
    _, body = invoke(_function("PaymentsFunction"), demo)
    assert body == {"success": True, "trial": None}


def test_stripe_webhook_handler_credits_the_sample_payment_once(demo):
    _, first = invoke(_function("StripeWebhookFunction"), demo)
    assert first == {"received": True, "event_id": "evt_1SampleCheckoutCompleted", "type": "checkout.session.completed",
                     "outcome": "credited"}
    _, again = invoke(_function("StripeWebhookFunction"), demo)
    assert again["outcome"] == "duplicate"
    assert users.require_user(demo["live"]["user_id"]).credits == 45  # 25 seeded + 20.00 paid, once
