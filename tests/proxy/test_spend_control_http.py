"""Spend control under concurrency, over real HTTP (uvicorn + a moto DynamoDB server): the account's plan limit across
a license key and a key it minted, and each per-key cap (requests, tokens per minute, budget, models) exact under 50
parallel requests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway_common import apikeys, metering, plans, timeutil, users
from gateway_common.keys import generate_license_key
from gateway_common.models import KeyCaps
from gateway_common.usage import recent_for_user
from local.gateway_app import build_app
from tests.servers import gateway_server, moto_server

from .conftest import make_payer

# openai/gpt-4 served by the sandbox: prompt estimate 9 tokens, max_tokens=3 is what the sandbox produces, so each
# request's actual cost and tokens equal what admission held and counted
PROMPT, COMPLETION = 9, 3
COST = PROMPT * Decimal("0.00003") + COMPLETION * Decimal("0.00006")
BODY = {"model": "openai/gpt-4", "messages": [{"role": "user", "content": "count"}], "max_tokens": COMPLETION}


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    timeutil.freeze_clock(time.time() // 60 * 60 + 20)  # mid-minute, and it stays there
    try:
        with moto_server(), gateway_server(build_app()) as url:
            yield url
    finally:
        timeutil.reset_clock()


def parallel(base: str, calls: list[tuple[str, dict[str, str], dict[str, Any]]]) -> list[httpx.Response]:
    def one(call: tuple[str, dict[str, str], dict[str, Any]]) -> httpx.Response:
        path, headers, body = call
        with httpx.Client(base_url=base, timeout=60) as http:
            return http.post(path, headers=headers, json=body)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def capped_key(payer: dict[str, str], **caps: Any) -> str:
    raw, _ = apikeys.create_gw_key(user_id=payer["user_id"], key_name="capped", environment="live", caps=KeyCaps(**caps))
    return raw


def test_16_parallel_requests_across_a_license_key_and_a_key_it_minted_admit_exactly_10(base):
    plan = plans.get_plan("license_pro")  # 10 requests a minute for the account
    user = users.create_user(username="lic16", email="lic16@license.test", plan_id=plan.id, currency=plan.currency)
    license_key = generate_license_key()
    apikeys.store_key(license_key, user_id=user.user_id, key_name="license", plan_id=plan.id)
    with httpx.Client(base_url=base) as http:
        minted = http.post("/user/api-keys", headers={"X-License-Key": license_key}, json={"key_name": "minted"}).json()
    chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    calls = [("/api/chat", {"X-License-Key": license_key}, chat)] * 8
    calls += [("/v1/chat/completions", {"Authorization": f"Bearer {minted['api_key']}"},
               {**chat, "model": "openai/gpt-4o-mini"})] * 8
    responses = parallel(base, calls)
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 10 and statuses.count(429) == 6, statuses
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 429} == {"rate_limit_minute"}
    assert len(recent_for_user(user.user_id, limit=50)) == 10


@pytest.mark.parametrize(("caps", "code", "status"), [
    ({"requests_per_minute": 7}, "key_rate_limit_minute", 429),
    ({"tokens_per_minute": 7 * (PROMPT + COMPLETION)}, "key_rate_limit_tokens_per_minute", 429),
    ({"max_budget": COST * 7}, "key_budget_exceeded", 402),
])
def test_each_key_cap_is_exact_under_50_parallel_requests(base, caps, code, status):
    payer = make_payer(f"cap{code}", Decimal("10.00"))  # the plan (Pro) and the credits allow far more
    key = capped_key(payer, **caps)
    responses = parallel(base, [("/v1/chat/completions", {"Authorization": f"Bearer {key}"}, BODY)] * 50)
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 7 and statuses.count(status) == 43, statuses
    assert {r.json()["error"]["code"] for r in responses if r.status_code != 200} == {code}
    records = recent_for_user(payer["user_id"], limit=100)
    assert len(records) == 7 and all(r["cost"] == COST for r in records)
    user = users.get_user(payer["user_id"])
    assert user.reserved == 0 and user.available == Decimal("10.00") - 7 * COST
    assert metering.open_holds(payer["user_id"]) == {}


def test_allowed_models_is_exact_under_50_parallel_requests(base):
    payer = make_payer("models", Decimal("10.00"))
    key = capped_key(payer, allowed_models=["openai/gpt-4"])
    headers = {"Authorization": f"Bearer {key}"}
    calls = [("/v1/chat/completions", headers, BODY if i % 2 else {**BODY, "model": "anthropic/claude-3.5-haiku"})
             for i in range(50)]
    responses = parallel(base, calls)
    assert [r.status_code for r in responses] == [200 if i % 2 else 403 for i in range(50)]
    refused = next(r for r in responses if r.status_code == 403).json()
    assert refused["error"]["code"] == "key_model_not_allowed" and "openai/gpt-4" in refused["detail"]
    assert len(recent_for_user(payer["user_id"], limit=100)) == 25
