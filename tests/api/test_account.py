"""Balance, API key management and plans."""

from __future__ import annotations

from decimal import Decimal

from gateway_common import apikeys, audit, db, keys
from tests.helpers import assert_error, bearer


def test_balance_shows_the_live_users_credits(client, demo):
    response = client.get("/user/balance", headers=bearer(demo["live"]["key"]))
    assert response.status_code == 200
    body = response.json()
    assert body["credits"] == 25.0
    assert body["status"] == "active"
    assert body["user_id"] == demo["live"]["user_id"]
    assert body["api_key"] != demo["live"]["key"] and "…" in body["api_key"]
    assert int(response.headers["x-ratelimit-limit"]) > 0
    assert int(response.headers["x-ratelimit-remaining"]) == int(response.headers["x-ratelimit-limit"]) - 1


def test_create_key_returns_full_key_once_and_lists_it_masked(client, demo):
    headers = bearer(demo["live"]["key"])
    created = client.post(
        "/user/api-keys", headers=headers,
        json={"key_name": "CI key", "environment_tag": "staging", "scope_permissions": {"read": ["*"], "write": ["chat"]}},
    )
    assert created.status_code == 200, created.text
    body = created.json()
    raw = body["api_key"]
    assert keys.GW_KEY_RE.match(raw) and raw.startswith("gw_staging_")
    assert body["key_name"] == "CI key" and body["scope_permissions"] == {"read": ["*"], "write": ["chat"]}

    listed = client.get("/user/api-keys", headers=headers).json()
    assert listed["count"] == len(listed["data"]) == 3  # two demo keys + this one
    mine = next(k for k in listed["data"] if k["id"] == body["key_id"])
    assert mine["api_key"] == keys.mask_key(raw) and raw not in str(listed)

    # only the hash is stored
    item = db.table("ApiKeysTable").get_item(Key={"key_id": body["key_id"]})["Item"]
    assert raw not in str(item) and item["key_hash"] == keys.hash_key(raw)
    # and the new key works
    assert client.get("/user/balance", headers=bearer(raw)).json()["user_id"] == demo["live"]["user_id"]


def test_create_key_bad_bodies_are_400_naming_the_field(client, demo):
    headers = bearer(demo["live"]["key"])
    assert_error(client.post("/user/api-keys", headers=headers, json={}), 400, "key_name", "required")
    assert_error(
        client.post("/user/api-keys", headers=headers, json={"key_name": "x", "environment_tag": "prod"}),
        400, "environment_tag",
    )
    assert_error(
        client.post("/user/api-keys", headers=headers, json={"key_name": "x", "scope_permissions": {"read": ["a b"]}}),
        400, "scope_permissions.read",
    )
    assert_error(
        client.post("/user/api-keys", headers={**headers, "Content-Type": "application/json"}, content=b"{not json"),
        400, "json",
    )


def test_a_key_cannot_mint_a_wider_key(client, demo):
    narrow, _ = apikeys.create_gw_key(
        user_id=demo["live"]["user_id"], key_name="n", environment="live",
        scope_permissions={"read": ["*"], "write": ["api_keys"]},
    )
    response = client.post("/user/api-keys", headers=bearer(narrow), json={"key_name": "wide"})
    assert_error(response, 403, "cannot grant 'write'")


def test_update_and_delete_own_key_with_audit(client, demo):
    headers = bearer(demo["live"]["key"])
    key_id = client.post("/user/api-keys", headers=headers, json={"key_name": "old"}).json()["key_id"]

    updated = client.put(f"/user/api-keys/{key_id}", headers=headers, json={"key_name": "new", "is_active": False})
    assert updated.json() == {"success": True, "message": "API key updated successfully"}
    view = next(k for k in client.get("/user/api-keys", headers=headers).json()["data"] if k["id"] == key_id)
    assert view["key_name"] == "new" and view["is_active"] is False

    assert_error(client.put(f"/user/api-keys/{key_id}", headers=headers, json={}), 400, "nothing to update")

    deleted = client.delete(f"/user/api-keys/{key_id}", headers=headers)
    assert deleted.json() == {"success": True, "message": "API key deleted successfully"}
    assert key_id not in str(client.get("/user/api-keys", headers=headers).json())
    assert_error(client.delete(f"/user/api-keys/{key_id}", headers=headers), 404, "not found")

    actions = [
        i["action"] for i in db.table(audit.AUDIT).scan()["Items"] if i.get("resource_id") == key_id
    ]
    assert sorted(actions) == ["api_key_created", "api_key_deleted", "api_key_updated"]


def test_another_users_key_is_404_and_untouched(client, demo):
    admin_headers = bearer(demo["admin"]["key"])
    admin_key_id = client.get("/user/api-keys", headers=admin_headers).json()["data"][0]["id"]
    headers = bearer(demo["live"]["key"])
    assert_error(client.put(f"/user/api-keys/{admin_key_id}", headers=headers, json={"key_name": "x"}), 404)
    assert_error(client.delete(f"/user/api-keys/{admin_key_id}", headers=headers), 404)
    record = apikeys.get_key(admin_key_id)
    assert record is not None and record.key_name == "Local admin" and record.status == "active"


def test_plans_are_public_and_hold_both_catalogs(client):
    body = client.get("/plans").json()
    assert body["count"] == len(body["data"]) == 5
    by_slug = {p["slug"]: p for p in body["data"]}
    assert by_slug["free"]["monthly_price"] == 0.0 and by_slug["free"]["monthly_request_limit"] == 1000
    assert by_slug["pro"]["monthly_price"] == 29.99 and by_slug["pro"]["daily_request_limit"] == 10000
    assert by_slug["license_pro"]["monthly_budget"] == 4.0 and by_slug["license_pro"]["billing_mode"] == "ai_included"
    assert by_slug["license_starter"]["billing_mode"] == "byok"
    assert client.get("/plans/2").json()["plan"]["plan_name"] == "Pro"
    assert client.get("/plans/license_pro").json()["plan"]["requests_per_minute"] == 10
    assert_error(client.get("/plans/99"), 404, "does not exist")


def test_user_plan_shows_the_callers_plan_and_period(client, demo):
    body = client.get("/user/plan", headers=bearer(demo["live"]["key"])).json()
    assert body["plan"]["plan_name"] == "Free" and body["plan"]["status"] == "active"
    assert body["plan"]["start_date"] < body["plan"]["end_date"]
    license_plan = client.get("/user/plan", headers={"X-License-Key": demo["license_pro"]["key"]}).json()
    assert license_plan["plan"]["display_name"] == "Pro - AI Inclusa"


def test_money_is_decimal_in_storage(client, demo):
    item = db.table("UsersTable").get_item(Key={"user_id": demo["live"]["user_id"]})["Item"]
    assert item["available"] == Decimal("25.00")
