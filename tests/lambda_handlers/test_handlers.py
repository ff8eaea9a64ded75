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
    assert int(response["headers"]["x-ratelimit-remaining"]) >= 0


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
