"""Acceptance 2 of issue 4, through the real POST /api/chat (the chat function, answered locally by the sandbox because no
provider has credentials in tests): the Pro license's 11th AI request in a minute is a 429 with Retry-After, 80% of
the monthly requests and of the budget bring both warning strings, and a spent budget makes /api/limits/check a 402.

Pro allows 10 requests a minute, 200 an hour, 1000 a month and 4.00 EUR of budget; one sandbox request costs a few
millionths of a euro. Reaching 80% with real requests would take 800 of them (minutes of the suite's time budget) and
four windows' worth of clock moves, so the month is seeded instead: the earlier requests of the month are written to the
month AI counter and the monthly spend item exactly as the proxy's admission and settle leave them (the counter's
``count``; the spend item's ``cost``, ``requests``, ``tokens``, ``latency_ms`` and ``budget_left`` = budget - cost), and
the requests that cross each threshold are real ones. The gateway clock is frozen mid-month, so moving it a minute
never crosses into another month, and moved with ``shift_clock`` instead of sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway_common import auth, catalog, db, plans
from gateway_common.timeutil import freeze_clock, now_ts, shift_clock
from tests.helpers import assert_error, seed_month

PRO = "CHA-B21AF1CF-BD99A579-01F8A4C0-ECFA58EB"
HEADERS = {"X-License-Key": PRO}
REQUESTS_WARNING = "Monthly request limit approaching (>80%)"
BUDGET_WARNING = "Monthly budget limit approaching (>80%)"
CHAT = {"messages": [{"role": "user", "content": "Hello, test message"}], "api_provider": "openai",
        "model": "gpt-4o-mini", "max_tokens": 100}


@pytest.fixture
def gateway(dynamo: Any, demo: Any, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """The license, analytics and chat groups in one app (the chat group serves POST /api/chat)."""
    from gateway_common.web import create_app
    from gw_analytics.app import router as analytics_router
    from gw_chat.app import router as chat_router
    from gw_license.app import router as license_router

    for name in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "PORTKEY_API_KEY",
                 "FEATHERLESS_API_KEY", "CHUTES_API_KEY"):  # no real provider: the local sandbox answers
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_PARAM", raising=False)
    db.get_settings.cache_clear()
    catalog.clear_cache()
    now = datetime.fromtimestamp(now_ts(), tz=UTC)
    freeze_clock(datetime(now.year, now.month, 15, 10, 0, 0, tzinfo=UTC).timestamp())
    return TestClient(create_app("usage acceptance under test", [license_router, analytics_router, chat_router]))


def _chat(client: TestClient) -> Decimal:
    response = client.post("/api/chat", headers=HEADERS, json=CHAT)
    assert response.status_code == 200, response.text
    assert response.json()["currency"] == "eur"
    return Decimal(str(response.json()["cost_eur"]))


def _seed_month(requests: int, cost: Decimal) -> None:
    """Earlier requests of this month, as admission and settle leave them on the account item."""
    seed_month(auth.authenticate(None, PRO).user_id, requests, cost)


def _current(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/usage/current", headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.json()


def test_eleventh_ai_request_in_a_minute_is_429_with_retry_after(gateway):
    spent = sum((_chat(gateway) for _ in range(10)), Decimal("0"))
    refused = gateway.post("/api/chat", headers=HEADERS, json=CHAT)
    assert_error(refused, 429, "10 requests per minute")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60 and refused.headers["X-RateLimit-Remaining"] == "0"

    month = _current(gateway)["current_usage"]
    assert month["current_minute"] == {"requests": 10} and month["current_hour"] == {"requests": 10}
    assert month["current_month"]["requests"] == 10  # the refused 11th is not counted
    assert Decimal(str(month["current_month"]["cost_eur"])) == spent > 0  # exactly what the ten responses charged

    check = gateway.get("/api/limits/check", headers=HEADERS)
    body = assert_error(check, 429, "10 requests per minute")
    assert 1 <= int(check.headers["Retry-After"]) <= 60
    assert body["can_make_request"] is False and body["blocking_factors"] == ["requests_per_minute"]
    assert body["limits_status"]["requests_per_minute"] == {"passed": False, "current": 10, "limit": 10, "percentage": None}

    shift_clock(60)  # the next minute: admitted again, the hour still counts the ten
    again = gateway.get("/api/limits/check", headers=HEADERS)
    assert again.status_code == 200 and again.json()["can_make_request"] is True
    assert again.json()["limits_status"]["requests_per_hour"]["current"] == 10
    _chat(gateway)


def test_80_percent_of_monthly_requests_and_budget_brings_both_warnings(gateway):
    cost = _chat(gateway)  # the month's first real request (sets the budget's remainder on the spend item)
    budget = plans.get_plan("license_pro").monthly_budget
    assert budget == Decimal("4.00") and 0 < cost < Decimal("0.001")
    # 799 requests and just under 80% of the budget (by half a request's cost): no warning yet.
    _seed_month(798, budget * Decimal("0.8") - cost - cost / 2)
    before = _current(gateway)
    assert before["current_usage"]["current_month"]["requests"] == 799
    assert before["current_usage"]["usage_percentages"]["requests"] == 79.9
    assert before["warnings"] == []  # 79.99...% of the budget is not 80%, even though it shows as 80.0 rounded
    _chat(gateway)  # the 800th request, which also crosses 80% of the budget
    after = _current(gateway)
    assert after["warnings"] == [REQUESTS_WARNING, BUDGET_WARNING]
    assert after["current_usage"]["usage_percentages"]["requests"] == 80.0
    check = gateway.get("/api/limits/check", headers=HEADERS)
    assert check.status_code == 200 and check.json()["can_make_request"] is True
    assert check.json()["warnings"] == [REQUESTS_WARNING, BUDGET_WARNING]


def test_spent_budget_makes_limits_check_402(gateway):
    cost = _chat(gateway)
    budget = plans.get_plan("license_pro").monthly_budget
    _seed_month(99, budget - cost)  # the rest of the month's budget, spent by earlier requests
    refused = gateway.post("/api/chat", headers=HEADERS, json=CHAT)
    assert_error(refused, 402, "Monthly budget exceeded")
    check = gateway.get("/api/limits/check", headers=HEADERS)
    body = assert_error(check, 402, "budget")
    assert body["can_make_request"] is False and body["blocking_factors"] == ["monthly_budget"]
    assert body["limits_status"]["monthly_budget"] == {
        "passed": False, "current_cost": 4.0, "current_cost_eur": 4.0, "limit": 4.0, "limit_eur": 4.0,
        "currency": "eur", "percentage": 100.0, "held": 0.0,
    }
    assert _current(gateway)["current_usage"]["current_month"]["requests"] == 100  # the refused request not counted
