"""Admin rate-limit overrides: set, read (with usage from the counters), remove; each change audited with who and why."""

from __future__ import annotations

from gateway_common import apikeys, audit, db
from gateway_common.errors import RateLimited
from tests.helpers import admit_ai, assert_error, bearer


def _entries(action: str) -> list[dict]:
    return [i for i in db.table(audit.AUDIT).scan()["Items"] if i.get("action") == action]


def _ai_request(raw_key: str) -> None:
    """What an AI route does at admission: count the account's plan windows (override applied)."""
    admit_ai(raw_key)


def test_override_set_read_remove_changes_what_the_next_request_may_do(client, demo):
    admin, user = bearer(demo["admin"]["key"]), demo["live"]
    second_key, _ = apikeys.create_gw_key(user_id=user["user_id"], key_name="second", environment="live")

    before = client.get(f"/admin/rate-limits/{user['user_id']}", headers=admin).json()
    assert before["source"] == "plan" and before["override"] is None
    assert before["rate_limits"] == {"requests_per_minute": 20, "requests_per_hour": 100, "requests_per_day": 100,
                                     "custom_limits": {}}
    assert before["current_usage"] == {"requests_this_minute": 0, "requests_this_hour": 0, "requests_this_day": 0}

    response = client.post("/admin/rate-limits", headers=admin, json={
        "user_id": user["user_id"], "requests_per_minute": 3, "requests_per_day": 500,
        "custom_limits": {"GET /user/balance": 2}, "reason": "Abuse investigation",
    })
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rate_limits"] == {"requests_per_minute": 3, "requests_per_hour": None, "requests_per_day": 500,
                                   "custom_limits": {"GET /user/balance": 2}}
    assert body["set_by"] == demo["admin"]["user_id"] and body["reason"] == "Abuse investigation"

    # the next requests of every one of the user's keys obey the override
    validated = client.post("/api/validate", headers=bearer(second_key)).json()
    assert validated["limits"]["requests_per_minute"] == 3 and validated["limits"]["requests_per_day"] == 500
    assert validated["limits"]["requests_per_hour"] == 100  # not overridden: the plan's
    for _ in range(2):
        assert client.get("/user/balance", headers=bearer(user["key"])).status_code == 200
    assert_error(client.get("/user/balance", headers=bearer(user["key"])), 429, "2 requests per minute")
    for _ in range(2):  # AI requests are counted per account: the override bounds all of the user's keys together
        _ai_request(user["key"])
    _ai_request(second_key)
    for key in (user["key"], second_key):
        try:
            _ai_request(key)
            raise AssertionError("a 4th AI request in the minute passed an override of 3/minute")
        except RateLimited as exc:
            assert "3 requests per minute" in exc.message

    view = client.get(f"/admin/rate-limits/{user['user_id']}", headers=admin).json()
    assert view["source"] == "override" and view["keys_counted"] == 3
    assert view["current_usage"] == {"requests_this_minute": 3, "requests_this_hour": 3, "requests_this_day": 3}
    assert view["override"]["reason"] == "Abuse investigation" and view["override"]["set_by"] == demo["admin"]["user_id"]
    assert view["plan_limits"]["requests_per_minute"] == 20

    removed = client.delete(f"/admin/rate-limits/{user['user_id']}?reason=Cleared", headers=admin).json()
    assert removed["removed"] is True
    assert client.post("/api/validate", headers=bearer(second_key)).json()["limits"]["requests_per_minute"] == 20
    assert client.get("/user/balance", headers=bearer(user["key"])).status_code == 200  # plan/endpoint default again
    _ai_request(user["key"])  # the 4th AI request of the minute is allowed again (plan: 20/minute)
    again = client.delete(f"/admin/rate-limits/{user['user_id']}?reason=Twice", headers=admin).json()
    assert again["removed"] is False and again["message"] == "No override was set"

    [set_entry] = _entries("rate_limits_set")
    assert set_entry["user_id"] == demo["admin"]["user_id"] and set_entry["resource_id"] == user["user_id"]
    assert set_entry["details"]["reason"] == "Abuse investigation"
    assert set_entry["details"]["limits"]["requests_per_minute"] == 3
    [removed_entry] = _entries("rate_limits_removed")
    assert removed_entry["user_id"] == demo["admin"]["user_id"]
    assert removed_entry["details"]["reason"] == "Cleared" and removed_entry["details"]["target_user_id"] == user["user_id"]


def test_a_zero_override_blocks_and_removing_it_unblocks(client, demo):
    admin, user = bearer(demo["admin"]["key"]), demo["live"]
    body = {"user_id": user["user_id"], "requests_per_minute": 0, "custom_limits": {"GET /user/balance": 0},
            "reason": "Blocked during fraud review"}
    response = client.post("/admin/rate-limits", headers=admin, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["rate_limits"]["requests_per_minute"] == 0
    # the very first request of the window is refused: 0 admits nothing, on the endpoint and for AI requests
    assert_error(client.get("/user/balance", headers=bearer(user["key"])), 429, "0 requests per minute")
    try:
        _ai_request(user["key"])
        raise AssertionError("an AI request passed an override of 0/minute")
    except RateLimited as exc:
        assert "0 requests per minute" in exc.message
    assert client.get("/user/api-keys", headers=bearer(user["key"])).status_code == 200  # other endpoints unaffected
    view = client.get(f"/admin/rate-limits/{user['user_id']}", headers=admin).json()
    assert view["rate_limits"]["requests_per_minute"] == 0 and view["current_usage"]["requests_this_minute"] == 0
    client.delete(f"/admin/rate-limits/{user['user_id']}?reason=cleared", headers=admin)
    assert client.get("/user/balance", headers=bearer(user["key"])).status_code == 200
    _ai_request(user["key"])


def test_rate_limit_bodies_are_checked(client, demo):
    admin = bearer(demo["admin"]["key"])
    uid = demo["live"]["user_id"]
    assert_error(client.post("/admin/rate-limits", headers=admin, json={"user_id": uid, "reason": "x"}), 400, "at least one")
    assert_error(client.post("/admin/rate-limits", headers=admin, json={"user_id": uid, "requests_per_minute": 5}), 400, "reason")
    assert_error(client.post("/admin/rate-limits", headers=admin,
                             json={"user_id": uid, "custom_limits": {"chat": 5}, "reason": "x"}), 400, "METHOD /path")
    assert_error(client.post("/admin/rate-limits", headers=admin,
                             json={"user_id": "user_nobody", "requests_per_minute": 5, "reason": "x"}), 404, "user_nobody")
    assert_error(client.get("/admin/rate-limits/user_nobody", headers=admin), 404, "user_nobody")
    assert_error(client.delete(f"/admin/rate-limits/{uid}", headers=admin), 400, "reason")
    assert_error(client.post("/admin/rate-limits", headers=admin,
                             json={"user_id": uid, "requests_per_hour": -1, "reason": "x"}), 400, "requests_per_hour")
    assert_error(client.post("/admin/rate-limits", headers=admin, json={
        "user_id": uid, "custom_limits": {"GET /" + "a" * 300: 5}, "reason": "x"}), 400, "longer than 200")
    assert_error(client.post("/admin/rate-limits", headers=admin, json={
        "user_id": uid, "custom_limits": {"GET /user/balance": -1}, "reason": "x"}), 400, "between 0")
    long_id = "u" * 101  # beyond any id; DynamoDB refuses keys over 2048 bytes with an error, not a miss
    assert_error(client.get(f"/admin/rate-limits/{long_id}", headers=admin), 400, "user_id")
    assert_error(client.delete(f"/admin/rate-limits/{long_id}?reason=x", headers=admin), 400, "user_id")
    assert _entries("rate_limits_set") == []


def test_override_through_the_real_chat_route(client, demo):
    """Acceptance 3 on the route clients call: the override decides the next completion, its removal restores the plan."""
    admin, user = bearer(demo["admin"]["key"]), demo["live"]
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    client.post("/admin/rate-limits", headers=admin,
                json={"user_id": user["user_id"], "requests_per_minute": 2, "reason": "Scraping burst"})
    for _ in range(2):
        assert client.post("/v1/chat/completions", headers=bearer(user["key"]), json=body).status_code == 200
    refused = client.post("/v1/chat/completions", headers=bearer(user["key"]), json=body)
    assert_error(refused, 429, "2 requests per minute")
    assert refused.headers["X-RateLimit-Limit"] == "2" and int(refused.headers["Retry-After"]) >= 1
    view = client.get(f"/admin/rate-limits/{user['user_id']}", headers=admin).json()
    assert view["current_usage"]["requests_this_minute"] == 2  # the refused one is not counted
    client.delete(f"/admin/rate-limits/{user['user_id']}?reason=Burst over", headers=admin)
    again = client.post("/v1/chat/completions", headers=bearer(user["key"]), json=body)
    assert again.status_code == 200 and again.headers["X-RateLimit-Limit"] == "20", again.headers
    [set_entry], [removed] = _entries("rate_limits_set"), _entries("rate_limits_removed")
    assert (set_entry["user_id"], set_entry["details"]["reason"]) == (demo["admin"]["user_id"], "Scraping burst")
    assert (removed["user_id"], removed["details"]["reason"]) == (demo["admin"]["user_id"], "Burst over")
