"""GET /admin/audit-logs: filters through the AuditTable's indexes (never a Scan), dates, paging; read only."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from gateway_common import audit, db, timeutil
from local import template
from tests.helpers import assert_error, bearer

DAY = 86_400


def _record(actor: str, action: str, resource_type: str, resource_id: str = "r1", **details: Any) -> dict[str, Any]:
    return audit.record(user_id=actor, action=action, resource_type=resource_type, resource_id=resource_id,
                        details=details, ip_address="10.0.0.1", user_agent="pytest")


@pytest.fixture
def history(dynamo, monkeypatch):
    """Entries spread over three months: 70 and 35 days ago, and now. Scans are forbidden while the test runs."""
    timeutil.shift_clock(-70 * DAY)
    old = _record("user_a", "role_changed", "user", "user_b", reason="old")
    timeutil.shift_clock(35 * DAY)
    mid = [_record("user_a", "rate_limits_set", "rate_limits", "user_b", reason="mid"),
           _record("user_b", "api_key_created", "api_key", "key_1", key_name="k")]
    timeutil.shift_clock(35 * DAY)
    new = [_record("user_b", "api_key_deleted", "api_key", "key_1"), _record("user_a", "role_changed", "user", "user_c")]

    real_table = db.table

    class NoScan:
        def __init__(self, table: Any) -> None:
            self._table = table

        def scan(self, **_: Any) -> Any:
            raise AssertionError("the audit-log API must not Scan")

        def __getattr__(self, name: str) -> Any:
            return getattr(self._table, name)

    def forbid_scans() -> None:
        monkeypatch.setattr(db, "table", lambda name: NoScan(real_table(name)))

    return {"old": old, "mid": mid, "new": new, "no_scan": forbid_scans}


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["data"]]


def test_filters_dates_and_paging(client, demo, history):
    admin = bearer(demo["admin"]["key"])
    history["no_scan"]()
    old, (mid_set, mid_key), (new_del, new_role) = history["old"], history["mid"], history["new"]

    by_actor = client.get("/admin/audit-logs?user_id=user_a", headers=admin)
    assert _ids(by_actor) == [new_role["id"], mid_set["id"], old["id"]]  # newest first, across months
    assert by_actor.json()["total"] == 3
    entry = by_actor.json()["data"][0]
    assert entry == {"id": new_role["id"], "user_id": "user_a", "action": "role_changed", "resource_type": "user",
                     "resource_id": "user_c", "details": {}, "ip_address": "10.0.0.1", "user_agent": "pytest",
                     "timestamp": new_role["timestamp"]}
    assert _ids(client.get("/admin/audit-logs?action=role_changed", headers=admin)) == [new_role["id"], old["id"]]
    assert _ids(client.get("/admin/audit-logs?resource_type=api_key", headers=admin)) == [new_del["id"], mid_key["id"]]
    both = client.get("/admin/audit-logs?user_id=user_a&action=rate_limits_set", headers=admin)
    assert _ids(both) == [mid_set["id"]] and both.json()["total"] == 1

    start = mid_set["timestamp"][:10]
    ranged = client.get(f"/admin/audit-logs?user_id=user_a&start_date={start}&end_date={start}", headers=admin)
    assert _ids(ranged) == [mid_set["id"]]
    since_mid = set(_ids(client.get(f"/admin/audit-logs?start_date={start}", headers=admin)))
    assert {new_role["id"], new_del["id"], mid_key["id"], mid_set["id"]} <= since_mid and old["id"] not in since_mid
    unfiltered = client.get(f"/admin/audit-logs?start_date={old['timestamp']}", headers=admin).json()
    assert unfiltered["total"] >= 5 and {old["id"], mid_set["id"], new_role["id"]} <= {e["id"] for e in unfiltered["data"]}
    recent = client.get("/admin/audit-logs?action=role_changed&end_date=" + mid_set["timestamp"], headers=admin)
    assert _ids(recent) == [old["id"]]

    page = client.get("/admin/audit-logs?user_id=user_a&limit=1&offset=1", headers=admin).json()
    assert [e["id"] for e in page["data"]] == [mid_set["id"]]
    assert (page["total"], page["limit"], page["offset"]) == (3, 1, 1)
    assert client.get("/admin/audit-logs?user_id=nobody", headers=admin).json() == {
        "success": True, "data": [], "total": 0, "limit": 100, "offset": 0}


def test_default_view_covers_recent_months(client, demo, history):
    admin = bearer(demo["admin"]["key"])
    history["no_scan"]()
    body = client.get("/admin/audit-logs?limit=1000", headers=admin).json()
    ids = {e["id"] for e in body["data"]}
    assert {history["old"]["id"], history["new"][0]["id"]} <= ids and body["total"] == len(body["data"])


def test_bad_queries_are_400(client, demo):
    admin = bearer(demo["admin"]["key"])
    assert_error(client.get("/admin/audit-logs?start_date=yesterday", headers=admin), 400, "start_date", "YYYY-MM-DD")
    assert_error(client.get("/admin/audit-logs?start_date=2024-02-01&end_date=2024-01-01", headers=admin), 400, "after")
    assert_error(client.get("/admin/audit-logs?limit=0", headers=admin), 400, "limit")
    assert_error(client.get("/admin/audit-logs?offset=-1", headers=admin), 400, "offset")
    assert_error(client.get("/admin/audit-logs", headers=bearer(demo["live"]["key"])), 403, "admin role")


def test_bad_query_values_are_400_naming_the_parameter(client, demo):
    admin = bearer(demo["admin"]["key"])
    for name in ("user_id", "action", "resource_type", "start_date", "end_date"):
        assert_error(client.get(f"/admin/audit-logs?{name}=", headers=admin), 400, name)  # was a DynamoDB error (500)
    assert_error(client.get("/admin/audit-logs?start_date=%20", headers=admin), 400, "start_date", "not a date")
    assert_error(client.get("/admin/audit-logs?user_id=" + "u" * 101, headers=admin), 400, "user_id")
    assert_error(client.get("/admin/audit-logs?action=" + "a" * 65, headers=admin), 400, "action")
    assert_error(client.get("/admin/audit-logs?start_date=" + "2" * 41, headers=admin), 400, "start_date")
    assert_error(client.get("/admin/audit-logs?limit=1001", headers=admin), 400, "limit")
    assert_error(client.get("/admin/audit-logs?end_date=2024-02-30", headers=admin), 400, "end_date", "not a date")
    # times beyond what a datetime holds once moved to UTC
    assert_error(client.get("/admin/audit-logs?start_date=0001-01-01T00:00:00%2B05:00", headers=admin), 400, "start_date")
    assert_error(client.get("/admin/audit-logs?end_date=9999-12-31T23:00:00-05:00", headers=admin), 400, "end_date")


def test_unfiltered_ranges_are_bounded_and_dates_clamped(client, demo, history):
    admin = bearer(demo["admin"]["key"])
    history["no_scan"]()
    calls: list[str] = []
    real_table = db.table

    class Counting:
        def __init__(self, table: Any) -> None:
            self._table = table

        def query(self, **kwargs: Any) -> Any:
            calls.append(kwargs.get("IndexName", "pk"))
            return self._table.query(**kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._table, name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db, "table", lambda name: Counting(real_table(name)))
        # one Query per month without a filter: "since year 1" would have been ~24,000 months of queries
        assert_error(client.get("/admin/audit-logs?start_date=2000-01-01", headers=admin), 400, "36 months", "filter")
        assert_error(client.get("/admin/audit-logs?start_date=2019-01-01&end_date=2023-01-01", headers=admin), 400, "36 months")
        # dates outside 2000..2099 are refused by the shared parser before any month arithmetic
        for query in ("start_date=0001-01-01", "end_date=9999-12-31", "start_date=2999-01-01", "end_date=1990-01-01"):
            assert_error(client.get(f"/admin/audit-logs?{query}", headers=admin), 400, query.split("=")[0], "out of range")
        assert calls == []
        # a filter is one index Query over any range
        ancient = client.get("/admin/audit-logs?user_id=user_a&start_date=2000-01-01", headers=admin)
        assert len(_ids(ancient)) == 3 and calls == ["by-user", "by-user"]  # the page and its count
        calls.clear()
        # an end after now means now: the default 12 months before now are read, not 12 months before 2099
        future = client.get("/admin/audit-logs?end_date=2099-12-31", headers=admin)
        assert {history["old"]["id"], history["new"][1]["id"]} <= set(_ids(future))
        assert len(calls) <= 2 * 13
    assert _ids(client.get("/admin/audit-logs?end_date=2000-01-01", headers=admin)) == []
    assert _ids(client.get("/admin/audit-logs?start_date=2098-01-01", headers=admin)) == []


def test_secrets_never_enter_an_entry(dynamo):
    key = "gw_live_" + "S" * 43
    license_key = "CHA-1A2B3C4D-5E6F7A8B-9C0D1E2F-3A4B5C6D"
    jwt_like = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJkaWQ6cHJpdnkifQ.c2lnbmF0dXJl"
    entry = audit.record(
        user_id="user_a", action="api_key_created", resource_type="api_key", resource_id="key_1",
        details={"key_name": "prod", "masked": "gw_live_abcd…wxyz", "note": f"made {key} for them",
                 "nested": {"privy_token": "opaque", "items": [license_key, {"raw": jwt_like}]}, "api_key": "x",
                 "stripe": "sk_live_4eC39HqLyjWDarjtT1zdp7dc"},
    )
    stored = db.table(audit.AUDIT).get_item(Key={"pk": entry["pk"], "sk": entry["sk"]})["Item"]
    text = str(stored)
    for secret in (key, license_key, jwt_like, "opaque", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"):
        assert secret not in text, secret
    assert stored["details"]["note"] == "made [redacted] for them"
    assert stored["details"]["nested"] == {"privy_token": "[redacted]", "items": ["[redacted]", {"raw": "[redacted]"}]}
    assert stored["details"]["key_name"] == "prod" and stored["details"]["masked"] == "gw_live_abcd…wxyz"


def test_no_route_changes_or_deletes_an_entry(client, demo):
    for function in template.http_functions():
        for route in importlib.import_module(function.module).router.routes:
            if "audit" in route.path:
                assert route.methods <= {"GET", "HEAD"}, (function.logical_id, route.path, route.methods)
    admin = bearer(demo["admin"]["key"])
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        assert client.request(method, "/admin/audit-logs", headers=admin).status_code == 405
    assert client.delete("/admin/audit-logs/log_1", headers=admin).status_code == 404


def test_actions_of_this_issue_land_in_the_log_without_secrets(client, demo, privy):
    signed = client.post("/auth/privy", json={"token": privy.token("did:privy:audited")}).json()
    admin = bearer(demo["admin"]["key"])
    client.put(f"/roles/{signed['user_id']}", headers=admin, json={"role": "admin", "reason": "new lead"})
    client.post("/admin/rate-limits", headers=admin,
                json={"user_id": signed["user_id"], "requests_per_hour": 50, "reason": "trial abuse"})
    client.delete(f"/admin/rate-limits/{signed['user_id']}?reason=resolved", headers=admin)
    body = client.get("/admin/audit-logs?limit=1000", headers=admin).json()
    actions = [e["action"] for e in body["data"]]
    for action in ("user_created", "sign_in", "role_changed", "rate_limits_set", "rate_limits_removed"):
        assert action in actions, (action, actions)
    assert signed["api_key"] not in str(body) and demo["admin"]["key"] not in str(body)
    assert privy.token("did:privy:audited").split(".")[2] not in str(body)
