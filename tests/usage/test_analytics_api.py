"""Activity, rankings, admin monitor and transaction analytics: all read rollups or indexed queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway_common.timeutil import iso, now_ts
from gw_analytics.logic import format_tokens
from gw_rollup.job import RollupJob
from tests.helpers import assert_error, bearer
from tests.usage.factory import key_id_of, usage_record, write_records


def _ago(days: int) -> str:
    return iso(datetime.fromtimestamp(now_ts(), tz=UTC) - timedelta(days=days))


def test_activity_log_history_and_api_calls(client, demo):
    live = bearer(demo["live"]["key"])
    logged = client.post("/activity/log", headers=live, json={"event_type": "login", "event_data": {"tokens": 100, "cost": 0.01},
                                                              "metadata": {"ip_address": "192.168.1.1"}})
    assert logged.status_code == 200 and logged.json()["activity_id"].startswith("activity_")
    write_records([usage_record(demo["live"]["user_id"], key_id_of(demo["live"]["key"]), currency="usd")])
    body = client.get("/activity/history", headers=live).json()
    assert body["total"] == 2 and {e["event_type"] for e in body["data"]} == {"login", "api_call"}
    login = next(e for e in body["data"] if e["event_type"] == "login")
    assert login["event_data"] == {"tokens": 100, "cost": 0.01} and login["source"] == "log"
    only_calls = client.get("/activity/history?event_type=api_call", headers=live).json()
    assert only_calls["total"] == 1 and only_calls["data"][0]["event_data"]["model"] == "openai/gpt-4o-mini"
    page = client.get("/activity/history?limit=1&offset=1", headers=live).json()
    assert len(page["data"]) == 1 and page["total"] == 2
    # Another user sees none of it.
    assert client.get("/activity/history", headers=bearer(demo["admin"]["key"])).json()["total"] == 0


def test_activity_bad_input_is_400(client, demo):
    live = bearer(demo["live"]["key"])
    assert_error(client.post("/activity/log", headers=live, json={"event_type": "bad type!"}), 400, "event_type")
    assert_error(client.post("/activity/log", headers=live, json={"event_type": "x", "extra": 1}), 400, "extra")
    assert_error(client.get("/activity/history?start_date=yesterday", headers=live), 400, "start_date")
    assert_error(client.get("/activity/stats?group_by=year", headers=live), 400, "group_by")


ODD_BUT_VALID_JSON = [
    {"big": 2.27e297, "tiny": 1e-200, "huge_int": 10**50},  # beyond DynamoDB's number range and precision
    {"": 1, "nested": {"": {"b": [1, {"": None}, [], {}]}}},  # empty keys and nulls, which DynamoDB maps refuse
    {"deep": [[[[[[[[[[[[[[1]]]]]]]]]]]]]]},  # 15 levels: within the limit
]


def test_any_json_object_logged_reads_back_as_written(client, demo):
    live = bearer(demo["live"]["key"])
    for event_data in ODD_BUT_VALID_JSON:
        logged = client.post("/activity/log", headers=live, json={"event_type": "odd", "event_data": event_data,
                                                                  "metadata": event_data})
        assert logged.status_code == 200, logged.text
    history = client.get("/activity/history", headers=live)
    assert history.status_code == 200, history.text
    stored = [(e["event_data"], e["metadata"]) for e in history.json()["data"]]
    assert sorted(map(repr, stored)) == sorted(repr((d, d)) for d in ODD_BUT_VALID_JSON)


def test_activity_json_that_cannot_be_stored_is_a_400_naming_the_field(client, demo):
    live = {**bearer(demo["live"]["key"]), "Content-Type": "application/json"}
    deep = b"[" * 17 + b"]" * 17
    for body, field, fragment in [
        (b'{"event_type":"x","event_data":{"a":NaN}}', "event_data", "finite"),
        (b'{"event_type":"x","metadata":{"a":-Infinity}}', "metadata", "finite"),
        (b'{"event_type":"x","event_data":{"a":' + deep + b"}}", "event_data", "16 levels"),
        (b'{"event_type":"x","metadata":{"a":"' + b"x" * 2100 + b'"}}', "metadata", "2048 bytes"),
        (b'{"event_type":"x","event_data":{"a":"' + b"x" * 8200 + b'"}}', "event_data", "8192 bytes"),
    ]:
        assert_error(client.post("/activity/log", headers=live, content=body), 400, field, fragment)
    assert client.get("/activity/history", headers=live).json()["total"] == 0  # nothing was stored


def test_activity_stats_from_rollups(client, demo):
    user_id, key_id = demo["live"]["user_id"], key_id_of(demo["live"]["key"])
    write_records([usage_record(user_id, key_id, currency="usd", tokens=(10, 30), cost="0.5") for _ in range(3)]
                  + [usage_record(user_id, key_id, model="anthropic/claude", currency="usd", tokens=(5, 5), cost="0.25",
                                  created_at=_ago(2))])
    RollupJob().run()
    stats = client.get("/activity/stats", headers=bearer(demo["live"]["key"])).json()["statistics"]
    assert stats["total_requests"] == 4 and stats["total_tokens"] == 130 and stats["total_cost"] == 1.75
    assert stats["by_model"] == {"openai/gpt-4o-mini": 3, "anthropic/claude": 1}
    assert stats["cost_by_currency"] == {"usd": 1.75}
    assert [d["requests"] for d in stats["by_day"]] == [1, 3] and stats["average_tokens_per_request"] == 32.5
    monthly = client.get("/activity/stats?group_by=month", headers=bearer(demo["live"]["key"])).json()["statistics"]
    assert sum(d["requests"] for d in monthly["by_day"]) == 4 and all(len(d["date"]) == 7 for d in monthly["by_day"])


def test_model_ranking_by_tokens_with_trend(client, demo):
    write_records(
        [usage_record("u1", "k1", model="openai/gpt-4", tokens=(1000, 1000)) for _ in range(3)]
        + [usage_record("u1", "k1", model="openai/gpt-4", tokens=(1000, 1000), created_at=_ago(9))]
        + [usage_record("u2", "k2", model="anthropic/claude-3", tokens=(500, 500))]
        + [usage_record("u2", "k2", model="anthropic/claude-3", tokens=(1000, 1000), created_at=_ago(8))]
        + [usage_record("u2", "k2", model="sandbox/echo", tokens=(10**6, 0), sandbox=True)]
    )
    RollupJob().run()
    body = client.get("/ranking/models").json()
    assert [m["model_id"] for m in body["data"]] == ["openai/gpt-4", "anthropic/claude-3"]  # sandbox not ranked
    first, second = body["data"]
    assert first["rank"] == 1 and first["tokens"] == "6K tokens" and first["trend_percentage"] == "200%"
    assert first["trend_direction"] == "up" and first["author"] == "openai"
    assert first["logo_url"] == "https://www.google.com/s2/favicons?domain=openai.com&sz=128"
    assert second["trend_direction"] == "down" and second["trend_percentage"] == "50%"
    assert body["has_logo_urls"] is True and body["count"] == 2
    assert format_tokens(8_200_000_000) == "8.2B tokens" and format_tokens(950) == "950 tokens"


def test_admin_monitor(client, demo):
    write_records([usage_record("u1", "k1"), usage_record("u2", "k2"), usage_record("u2", "k2")])
    RollupJob().run()
    assert_error(client.get("/admin/monitor", headers=bearer(demo["live"]["key"])), 403, "admin")
    body = client.get("/admin/monitor", headers=bearer(demo["admin"]["key"])).json()
    assert body["system"]["status"] == "healthy" and body["system"]["active_users"] == 2
    assert body["system"]["total_requests"] == 3 and body["database"]["status"] == "connected"
    assert body["database"]["response_time"] > 0 and body["rollups"]["lag_seconds"] == 0.0
    assert list(body["rollups"]["shard_lag"].values()) == [0.0] and body["rollups"]["complete_until"]


def test_transaction_analytics(client, demo):
    write_records(
        [usage_record("u1", "k1", model="openai/gpt-4", provider="openrouter", cost="0.50", currency="usd", plan_id=2)
         for _ in range(2)]
        + [usage_record("u2", "k2", model="anthropic/claude", provider="anthropic", cost="0.25", currency="usd", plan_id=1)]
        + [usage_record("u3", "k3", cost="1.00", currency="eur", plan_id=5)]
    )
    RollupJob().run()
    admin = bearer(demo["admin"]["key"])
    assert_error(client.get("/admin/transaction-analytics", headers=bearer(demo["live"]["key"])), 403, "admin")
    a = client.get("/admin/transaction-analytics", headers=admin).json()["analytics"]
    assert a["total_transactions"] == 4 and a["total_revenue"] == 1.25 and a["currency"] == "usd"
    assert a["currency_transactions"] == 3 and a["average_transaction_value"] == round(1.25 / 3, 6)  # USD over USD
    assert a["by_currency"] == {
        "usd": {"transactions": 3, "revenue": 1.25, "average_transaction_value": round(1.25 / 3, 6)},
        "eur": {"transactions": 1, "revenue": 1.0, "average_transaction_value": 1.0},
    }
    assert a["by_model"]["openai/gpt-4"] == {
        "count": 2, "revenue": 1.0, "credits": 60,
        "by_currency": {"usd": {"transactions": 2, "revenue": 1.0, "average_transaction_value": 0.5}}}
    assert a["by_provider"]["openrouter"]["count"] == 2
    assert a["by_user_tier"]["pro"]["revenue"] == 1.0 and a["by_user_tier"]["free"]["count"] == 1
    license_pro = a["by_user_tier"]["license_pro"]  # EUR spend on a license plan is shown, in EUR, in the USD view
    assert license_pro["count"] == 1 and license_pro["revenue"] == 0.0
    assert license_pro["by_currency"] == {"eur": {"transactions": 1, "revenue": 1.0, "average_transaction_value": 1.0}}
    assert a["time_series"][0]["transactions"] == 4
    assert a["time_series"][0]["revenue_by_currency"] == {"eur": 1.0, "usd": 1.25}
    eur = client.get("/admin/transaction-analytics?currency=eur", headers=admin).json()["analytics"]
    assert eur["total_revenue"] == 1.0 and eur["average_transaction_value"] == 1.0 and eur["currency_transactions"] == 1
    by_user = client.get("/admin/transaction-analytics?user_id=u2", headers=admin).json()["analytics"]
    assert by_user["total_transactions"] == 1 and list(by_user["by_model"]) == ["anthropic/claude"]
    by_model = client.get("/admin/transaction-analytics?model=openai/gpt-4", headers=admin).json()["analytics"]
    assert by_model["total_transactions"] == 2 and list(by_model["by_provider"]) == ["openrouter"]
    assert_error(client.get("/admin/transaction-analytics?user_id=u1&model=x", headers=admin), 400, "one of")
    assert_error(client.get("/admin/transaction-analytics?start_date=2025-13-01", headers=admin), 400, "start_date")


def test_sandbox_calls_count_in_the_global_view_as_in_the_users(client, demo):
    """Issue 16: the unfiltered view showed 0 transactions where the user's showed 11 (sandbox records were dropped
    from the global rows). Every view counts the same records; the public ranking leaves the sandbox's tokens out."""
    write_records([usage_record("u1", "k1", model="openai/gpt-4", provider="sandbox", sandbox=True, cost="0",
                                currency="usd") for _ in range(11)])
    RollupJob().run()
    admin = bearer(demo["admin"]["key"])
    everyone = client.get("/admin/transaction-analytics", headers=admin).json()["analytics"]
    one_user = client.get("/admin/transaction-analytics?user_id=u1", headers=admin).json()["analytics"]
    assert everyone["total_transactions"] == one_user["total_transactions"] == 11
    assert everyone["sandbox_transactions"] == 11 and everyone["by_provider"]["sandbox"]["count"] == 11
    assert client.get("/ranking/models").json()["data"] == []
