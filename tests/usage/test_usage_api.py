"""The usage and limits API (seed 003): real-time figures from the counters, history from rollups, per-endpoint limits.

AI requests are driven exactly as the LLM proxy admits and settles them (ratelimit.consume on scope "ai" with the
plan's windows, then the monthly spend item), because POST /api/chat is not served by the template yet.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway_common import auth, ratelimit
from gateway_common.errors import RateLimited
from gateway_common.timeutil import shift_clock
from gw_rollup.job import RollupJob
from tests.helpers import assert_error, bearer
from tests.usage.factory import key_id_of, settle, usage_record, write_records

PRO = "CHA-B21AF1CF-BD99A579-01F8A4C0-ECFA58EB"
STARTER = "CHA-F0E17C9E-4A7164DE-29427E34-AB0EA5EC"
PRO_HEADERS = {"X-License-Key": PRO}
REQUESTS_WARNING = "Monthly request limit approaching (>80%)"
BUDGET_WARNING = "Monthly budget limit approaching (>80%)"


def _admit(raw_key: str, n: int = 1) -> None:
    caller = auth.authenticate(None, raw_key)
    for _ in range(n):
        ratelimit.consume(caller.key.key_id, "ai", caller.plan_windows())


def test_current_usage_of_a_fresh_pro_license(client, demo):
    response = client.get("/api/usage/current", headers=PRO_HEADERS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and body["license_key"].startswith("CHA-B21A")
    assert body["plan"] == {"name": "pro", "display_name": "Pro - AI Inclusa", "price": 7.99, "currency": "eur"}
    usage = body["current_usage"]
    assert usage["current_month"] == {"requests": 0, "tokens": 0, "cost": 0.0, "cost_eur": 0.0, "currency": "eur",
                                      "avg_response_time_ms": 0}
    assert usage["limits"]["monthly_requests"] == 1000 and usage["limits"]["requests_per_minute"] == 10
    assert usage["limits"]["requests_per_hour"] == 200 and usage["limits"]["monthly_budget_eur"] == 4.0
    assert usage["usage_percentages"] == {"requests": 0.0, "budget": 0.0}
    assert body["warnings"] == []


def test_pro_at_80_percent_of_requests_and_budget_sees_both_warnings(client, demo):
    key_id = key_id_of(PRO)
    # Spread over the month: only the month window holds them (the minute and hour windows are empty now).
    settle(key_id, count=799, cost="3.19", tokens=40_000, latency_ms=799 * 250, windows=("month",))
    body = client.get("/api/usage/current", headers=PRO_HEADERS).json()
    assert body["warnings"] == []  # 79.9% and 79.75%: not yet
    settle(key_id, count=1, cost="0.01", tokens=50, latency_ms=250, windows=("month",))
    body = client.get("/api/usage/current", headers=PRO_HEADERS).json()
    month = body["current_usage"]["current_month"]
    assert month["requests"] == 800 and month["tokens"] == 40_050 and month["cost_eur"] == 3.2
    assert month["avg_response_time_ms"] == 250
    assert body["current_usage"]["usage_percentages"] == {"requests": 80.0, "budget": 80.0}
    assert body["warnings"] == [REQUESTS_WARNING, BUDGET_WARNING]
    check = client.get("/api/limits/check", headers=PRO_HEADERS)
    assert check.status_code == 200 and check.json()["can_make_request"] is True
    assert check.json()["warnings"] == [REQUESTS_WARNING, BUDGET_WARNING]


def test_eleventh_ai_request_in_a_minute_is_429_and_limits_check_says_so(client, demo):
    _admit(PRO, 10)
    with pytest.raises(RateLimited) as refused:
        _admit(PRO)
    assert int(refused.value.headers["Retry-After"]) >= 1
    response = client.get("/api/limits/check", headers=PRO_HEADERS)
    body = assert_error(response, 429, "10 requests per minute")
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert body["can_make_request"] is False and body["blocking_factors"] == ["requests_per_minute"]
    assert body["limits_status"]["requests_per_minute"] == {"passed": False, "current": 10, "limit": 10, "percentage": None}
    assert body["limits_status"]["monthly_requests"]["current"] == 10
    current = client.get("/api/usage/current", headers=PRO_HEADERS).json()["current_usage"]
    assert current["current_minute"] == {"requests": 10} and current["current_hour"] == {"requests": 10}
    shift_clock(61)  # next minute: allowed again, the hour still counts them
    again = client.get("/api/limits/check", headers=PRO_HEADERS)
    assert again.status_code == 200 and again.json()["limits_status"]["requests_per_hour"]["current"] == 10


def test_spent_budget_makes_limits_check_402(client, demo):
    settle(key_id_of(PRO), count=5, cost="4.00")
    response = client.get("/api/limits/check", headers=PRO_HEADERS)
    body = assert_error(response, 402, "budget")
    assert body["can_make_request"] is False and body["blocking_factors"] == ["monthly_budget"]
    assert body["limits_status"]["monthly_budget"]["passed"] is False
    assert body["limits_status"]["monthly_budget"]["current_cost_eur"] == 4.0
    assert body["limits_status"]["monthly_budget"]["percentage"] == 100.0


def test_limits_check_does_not_consume_the_plan_quota(client, demo):
    for _ in range(15):
        assert client.get("/api/limits/check", headers=PRO_HEADERS).status_code == 200
    counts = ratelimit.window_counts(key_id_of(PRO), "ai")
    assert counts == {"minute": 0, "hour": 0, "day": 0, "month": 0}
    _admit(PRO, 10)  # all ten AI requests of the minute are still there


@pytest.mark.parametrize(("path", "limit"), [
    ("/api/usage/current", 10), ("/api/usage/history", 5), ("/api/limits/check", 20), (f"/api/usage/{PRO}", 10),
])
def test_each_endpoint_has_its_own_per_minute_limit(client, demo, path, limit):
    headers = {} if path.endswith(PRO) else PRO_HEADERS
    for _ in range(limit):
        assert client.get(path, headers=headers).status_code == 200
    refused = client.get(path, headers=headers)
    assert_error(refused, 429, f"{limit} requests per minute")
    assert "Retry-After" in refused.headers
    assert ratelimit.window_counts(key_id_of(PRO), "ai")["minute"] == 0  # the plan's AI quota is untouched


def test_starter_byok_has_no_budget(client, demo):
    body = client.get("/api/limits/check", headers={"X-License-Key": STARTER}).json()
    assert body["can_make_request"] is True
    assert body["limits_status"]["monthly_budget"]["limit"] is None
    assert body["limits_status"]["requests_per_minute"]["limit"] == 5


def test_gw_keys_are_accepted_and_usd_is_not_shown_as_eur(client, demo):
    body = client.get("/api/usage/current", headers=bearer(demo["live"]["key"])).json()
    assert body["plan"]["currency"] == "usd" and body["current_usage"]["current_month"]["cost_eur"] is None


def test_errors_are_401_with_error_in_the_body(client, demo):
    invalid = client.get("/api/usage/current", headers={"X-License-Key": "INVALID-KEY-TEST"})
    assert_error(invalid, 401, "invalid")
    assert "error" in invalid.text
    missing = client.get("/api/usage/current")
    assert_error(missing, 401, "missing")
    assert "error" in missing.text


def test_legacy_path_form(client, demo):
    body = client.get(f"/api/usage/{PRO}").json()
    assert body["plan"]["display_name"] == "Pro - AI Inclusa" and body["warnings"] == []
    assert_error(client.get("/api/usage/CHA-00000000-00000000-00000000-00000000"), 404, "not found")
    assert_error(client.get("/api/usage/not-a-key"), 401, "invalid")


def test_history_reads_rollups_and_recent_records(client, demo):
    key_id, user_id = key_id_of(PRO), demo["license_pro"]["user_id"]
    records = [usage_record(user_id, key_id, provider="openai", tokens=(50, 100), latency_ms=200) for _ in range(3)]
    records += [usage_record(user_id, key_id, model="anthropic/claude-3-haiku", provider="anthropic", tokens=(20, 40),
                             latency_ms=300) for _ in range(2)]
    write_records(records)
    RollupJob().run()
    body = client.get("/api/usage/history?days=7", headers=PRO_HEADERS).json()
    day = records[0].created_at[:10]
    assert body["period"]["days"] == 7
    assert body["daily_usage"][day]["total_requests"] == 5 and body["daily_usage"][day]["total_tokens"] == 570
    assert body["daily_usage"][day]["by_provider"] == {
        "anthropic": {"requests": 2, "tokens": 120, "cost": 0.002, "avg_response_time": 300},
        "openai": {"requests": 3, "tokens": 450, "cost": 0.003, "avg_response_time": 200},
    }
    assert len(body["recent_requests"]) == 5 and body["recent_requests"][0]["endpoint"] == "/api/chat"
    assert body["summary"]["total_requests"] == 5 and body["summary"]["days_with_usage"] == 1
    only_openai = client.get("/api/usage/history?days=7&provider=openai", headers=PRO_HEADERS).json()
    assert only_openai["daily_usage"][day]["total_requests"] == 3
    assert {r["provider"] for r in only_openai["recent_requests"]} == {"openai"}
    assert Decimal(str(only_openai["summary"]["total_cost"])) == Decimal("0.003")


@pytest.mark.parametrize("days", ["0", "91", "abc"])
def test_history_days_outside_1_to_90_is_400(client, demo, days):
    assert_error(client.get(f"/api/usage/history?days={days}", headers=PRO_HEADERS), 400, "days")
