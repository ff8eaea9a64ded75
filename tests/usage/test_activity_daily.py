"""GET /activity/daily: the dashboard's per-day, per-model series, read from rollups only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway_common import apikeys, db
from gateway_common.timeutil import iso, now_ts
from gw_rollup.job import RollupJob
from tests.helpers import assert_error, bearer
from tests.usage.factory import key_id_of, usage_record, write_records


def _ago(days: int) -> str:
    return iso(datetime.fromtimestamp(now_ts(), tz=UTC) - timedelta(days=days))


def test_every_day_of_30_with_requests_tokens_and_cost_per_model(client, demo):
    user_id, key_id = demo["live"]["user_id"], key_id_of(demo["live"]["key"])
    write_records(
        [usage_record(user_id, key_id, currency="usd", tokens=(10, 30), cost="0.5") for _ in range(2)]
        + [usage_record(user_id, key_id, model="anthropic/claude-3-haiku", currency="usd", tokens=(5, 5), cost="0.25")]
        + [usage_record(user_id, key_id, model="anthropic/claude-3-haiku", currency="usd", created_at=_ago(3))]
        + [usage_record(user_id, key_id, currency="usd", created_at=_ago(45))]  # outside the default 30 days
        + [usage_record(demo["admin"]["user_id"], key_id_of(demo["admin"]["key"]), currency="usd")]  # someone else
    )
    RollupJob().run()
    body = client.get("/activity/daily", headers=bearer(demo["live"]["key"])).json()
    days = body["days"]
    today = datetime.fromtimestamp(now_ts(), tz=UTC).date()
    assert len(days) == 30 and days[-1]["date"] == today.isoformat() and days[0]["date"] == (today - timedelta(days=29)).isoformat()
    assert days[-1]["models"] == {
        "openai/gpt-4o-mini": {"requests": 2, "tokens": 80, "cost": 1.0},
        "anthropic/claude-3-haiku": {"requests": 1, "tokens": 10, "cost": 0.25},
    }
    assert days[-4]["models"] == {"anthropic/claude-3-haiku": {"requests": 1, "tokens": 30, "cost": 0.001}}
    assert sum(len(d["models"]) for d in days) == 3  # the 45-day-old record and the admin's are not in it
    assert body["models"] == ["anthropic/claude-3-haiku", "openai/gpt-4o-mini"]  # 2 requests each: by name
    assert body["currency"] == "usd"


def test_reads_rollups_not_the_usage_records(client, demo):
    """Once rolled up, the raw records can go: the series is unchanged (it never reads them)."""
    write_records([usage_record(demo["live"]["user_id"], key_id_of(demo["live"]["key"]), currency="usd")])
    RollupJob().run()
    usage = db.table("UsageTable")
    for item in usage.scan()["Items"]:
        usage.delete_item(Key={"user_id": item["user_id"], "sk": item["sk"]})
    assert usage.scan()["Items"] == []
    days = client.get("/activity/daily", headers=bearer(demo["live"]["key"])).json()["days"]
    assert days[-1]["models"]["openai/gpt-4o-mini"]["requests"] == 1


def test_bad_ranges_are_400_naming_the_problem(client, demo):
    live = bearer(demo["live"]["key"])
    assert_error(client.get("/activity/daily?start_date=last-week", headers=live), 400, "start_date")
    assert_error(client.get("/activity/daily?start_date=2026-01-01&end_date=2025-12-01", headers=live), 400, "after")
    assert_error(client.get("/activity/daily?start_date=2025-01-01&end_date=2025-12-01", headers=live), 400, "92 days")
    assert client.get("/activity/daily").status_code == 401


def test_keys_last_used_day_and_30_day_requests_from_rollups_for_the_callers_keys_only(client, demo):
    user_id, live = demo["live"]["user_id"], key_id_of(demo["live"]["key"])
    sandbox = key_id_of(demo["test"]["key"])
    write_records(
        [usage_record(user_id, live, currency="usd") for _ in range(2)]
        + [usage_record(user_id, live, currency="usd", created_at=_ago(31))]  # used, but not in the 30 days
        + [usage_record(user_id, sandbox, currency="usd", created_at=_ago(40))]
        + [usage_record(demo["admin"]["user_id"], key_id_of(demo["admin"]["key"]), currency="usd")]  # someone else
    )
    RollupJob().run()
    body = client.get("/activity/keys", headers=bearer(demo["live"]["key"])).json()
    today = datetime.fromtimestamp(now_ts(), tz=UTC).date()
    by_key = {k["key_id"]: k for k in body["data"]}
    assert set(by_key) == {k.key_id for k in apikeys.list_user_keys(user_id)} == {live, sandbox}
    assert by_key[live] == {"key_id": live, "last_used": today.isoformat(), "requests_30_days": 2}
    assert by_key[sandbox] == {"key_id": sandbox, "last_used": (today - timedelta(days=40)).isoformat(),
                               "requests_30_days": 0}
    assert body["lookback_days"] == 92
    assert client.get("/activity/keys").status_code == 401
