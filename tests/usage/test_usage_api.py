"""The usage and limits API (seed 003): real-time figures from the counters, history from rollups, per-endpoint limits.

Acceptance 2 (11th AI request, 80% warnings, spent budget) goes through the real POST /api/chat in
test_pro_license_acceptance.py; here AI admissions are the layer's own ``admission.admit`` without money (tests.helpers.admit_ai).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway_common import auth, timeutil
from gw_rollup.job import RollupJob
from tests.helpers import admit_ai, ai_counts, assert_error, bearer
from tests.usage.factory import key_id_of, usage_record, write_records

PRO = "CHA-B21AF1CF-BD99A579-01F8A4C0-ECFA58EB"
STARTER = "CHA-F0E17C9E-4A7164DE-29427E34-AB0EA5EC"
PRO_HEADERS = {"X-License-Key": PRO}
REQUESTS_WARNING = "Monthly request limit approaching (>80%)"
BUDGET_WARNING = "Monthly budget limit approaching (>80%)"


def _admit(raw_key: str, n: int = 1) -> None:
    admit_ai(raw_key, n)


def _pro_counts() -> dict[str, int]:
    return ai_counts(auth.authenticate(None, PRO).user_id)


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


def test_limits_check_does_not_consume_the_plan_quota(client, demo):
    for _ in range(15):
        assert client.get("/api/limits/check", headers=PRO_HEADERS).status_code == 200
    counts = _pro_counts()
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
    assert _pro_counts()["minute"] == 0  # the plan's AI quota is untouched


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


def test_history_says_which_requests_its_summary_counts_yet(client, demo):
    """The summary comes from rollups, the recent list from the records: during the rollup lag they differ. The
    response says by how much (rollup_lag_seconds, complete_until) and marks the requests not counted yet."""
    key_id, user_id = key_id_of(PRO), demo["license_pro"]["user_id"]
    before = client.get("/api/usage/history?days=7", headers=PRO_HEADERS).json()["summary"]
    assert before["complete_until"] is None and before["rollup_lag_seconds"] is None  # the job never ran
    write_records([usage_record(user_id, key_id) for _ in range(3)])
    timeutil.shift_clock(10)
    RollupJob().run()
    timeutil.shift_clock(5)
    write_records([usage_record(user_id, key_id) for _ in range(2)])
    timeutil.shift_clock(1)
    body = client.get("/api/usage/history?days=7", headers=PRO_HEADERS).json()
    assert body["summary"]["total_requests"] == 3 and 6 <= body["summary"]["rollup_lag_seconds"] < 7
    assert [r["in_summary"] for r in body["recent_requests"]] == [False, False, True, True, True]
    assert sum(r["in_summary"] for r in body["recent_requests"]) == body["summary"]["total_requests"]
    timeutil.shift_clock(10)
    RollupJob().run()
    after = client.get("/api/usage/history?days=7", headers=PRO_HEADERS).json()
    assert after["summary"]["total_requests"] == 5 and all(r["in_summary"] for r in after["recent_requests"])


def test_current_day_counts_requests_on_a_plan_without_a_daily_limit(client, demo):
    """license_pro has no daily limit; its current_day stayed 0 while current_hour counted: counting must not depend on
    whether a limit exists."""
    _admit(PRO, 3)
    usage = client.get("/api/usage/current", headers=PRO_HEADERS).json()["current_usage"]
    assert usage["limits"]["requests_per_day"] is None
    assert usage["current_hour"]["requests"] == 3 and usage["current_day"]["requests"] == 3


@pytest.mark.parametrize("days", ["0", "91", "abc"])
def test_history_days_outside_1_to_90_is_400(client, demo, days):
    assert_error(client.get(f"/api/usage/history?days={days}", headers=PRO_HEADERS), 400, "days")


def test_a_server_error_on_the_legacy_path_logs_the_route_not_the_key(usage_app, demo, monkeypatch):
    import io
    import json

    from fastapi.testclient import TestClient

    from gateway_common.observability import logger
    from gw_license import usage_logic

    def broken(caller):
        raise RuntimeError("boom")

    monkeypatch.setattr(usage_logic, "current_usage", broken)
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        response = TestClient(usage_app, raise_server_exceptions=False).get(f"/api/usage/{PRO}")
    finally:
        logger.registered_handler.setStream(previous)
    assert_error(response, 500, "internal server error")
    logged = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["path"] for line in logged if line["message"] == "unhandled error"] == ["GET /api/usage/{license_key}"]
    assert PRO not in stream.getvalue()


def test_the_real_time_snapshot_is_one_dynamodb_read(client, demo):
    """Every AI window count and the month's spend live on the account item: one consistent GetItem reads them all."""
    from gateway_common import db
    from gw_license import usage_logic

    caller = auth.authenticate(None, PRO)
    _admit(PRO, 3)
    calls: list[str] = []
    dynamo_client = db.client()
    dynamo_client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    try:
        snap = usage_logic.snapshot(caller)
    finally:
        dynamo_client.meta.events.unregister("before-call.dynamodb")
    assert calls == ["GetItem"]
    # every window is counted, limited or not (Pro has no day limit: the day still shows its 3 requests)
    assert snap.counts == {"minute": 3, "hour": 3, "day": 3, "month": 3}
    assert {w: (s.count, s.limit) for w, s in snap.states.items()} == {"minute": (3, 10), "hour": (3, 200), "month": (3, 1000)}
