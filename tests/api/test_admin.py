"""Admin accounts and credits."""

from __future__ import annotations

from decimal import Decimal

from gateway_common import audit, db, ledger, users
from tests.helpers import assert_error, bearer


def test_admin_routes_need_the_admin_role(client, demo):
    for path, body in (("/admin/create", {"username": "u", "email": "u@x.io"}),
                       ("/admin/add_credits", {"user_id": demo["live"]["user_id"], "credits": 5, "reason": "x"})):
        assert_error(client.post(path, headers=bearer(demo["live"]["key"]), json=body), 403, "admin role")
        assert_error(client.post(path, json=body), 401)
    assert client.get("/user/balance", headers=bearer(demo["live"]["key"])).json()["credits"] == 25.0


def test_admin_creates_a_user_with_a_working_key(client, demo):
    response = client.post(
        "/admin/create", headers=bearer(demo["admin"]["key"]),
        json={"username": "new@example.com", "email": "New@Example.com", "auth_method": "email", "environment_tag": "live"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["credits"] == 10.0 and body["username"] == "new@example.com" and body["email"] == "new@example.com"
    balance = client.get("/user/balance", headers=bearer(body["api_key"])).json()
    assert balance["user_id"] == body["user_id"] and balance["credits"] == 10.0
    entries = ledger.entries(body["user_id"])
    assert [e["amount"] for e in entries] == [Decimal("10.00")]
    created = [i for i in db.table(audit.AUDIT).scan()["Items"] if i.get("action") == "user_created"]
    assert created[0]["resource_id"] == body["user_id"] and created[0]["user_id"] == demo["admin"]["user_id"]
    assert body["api_key"] not in str(created)

    again = client.post("/admin/create", headers=bearer(demo["admin"]["key"]), json={"username": "x", "email": "new@example.com"})
    assert_error(again, 409, "already exists")


def test_admin_create_bad_bodies(client, demo):
    headers = bearer(demo["admin"]["key"])
    assert_error(client.post("/admin/create", headers=headers, json={"username": "x"}), 400, "email")
    assert_error(client.post("/admin/create", headers=headers, json={"username": "x", "email": "nope"}), 400, "email")
    assert_error(client.post("/admin/create", headers=headers, json={"username": "x", "email": "a@b.io", "plan_id": 42}),
                 404, "plan")


def test_add_credits_is_exact_and_idempotent(client, demo):
    headers = {**bearer(demo["admin"]["key"]), "Idempotency-Key": "grant-1"}
    body = {"user_id": demo["live"]["user_id"], "credits": 50.1, "reason": "Support credit"}
    first = client.post("/admin/add_credits", headers=headers, json=body).json()
    assert first == {"success": True, "message": "Credits added successfully", "new_balance": 75.1, "applied": True}
    replay = client.post("/admin/add_credits", headers=headers, json=body).json()
    assert replay["applied"] is False and replay["new_balance"] == 75.1
    item = db.table("UsersTable").get_item(Key={"user_id": demo["live"]["user_id"]})["Item"]
    assert item["available"] == Decimal("75.1")
    assert sum(e["amount"] for e in ledger.entries(demo["live"]["user_id"])) == Decimal("75.1")


def test_a_request_id_is_never_an_idempotency_key_and_a_reused_key_with_another_grant_is_409(client, demo):
    admin, user_id = bearer(demo["admin"]["key"]), demo["live"]["user_id"]
    body = {"user_id": user_id, "credits": 1, "reason": "Goodwill"}
    for _ in range(10):  # ten grants that share one X-Request-Id, no Idempotency-Key: ten grants
        response = client.post("/admin/add_credits", headers={**admin, "X-Request-Id": "req-shared"}, json=body)
        assert response.json()["applied"] is True
    assert users.require_user(user_id).credits == Decimal("35.00")
    keyed = {**admin, "Idempotency-Key": "grant-7"}
    assert client.post("/admin/add_credits", headers=keyed, json=body).json()["applied"] is True
    for other in ({**body, "credits": 2}, {**body, "reason": "Other"}, {**body, "user_id": demo["admin"]["user_id"]}):
        refused = assert_error(client.post("/admin/add_credits", headers=keyed, json=other), 409,
                               "Idempotency-Key was already used at 20", "different grant")
        assert refused["error"]["code"] == "idempotency_key_reused"
    assert client.post("/admin/add_credits", headers=keyed, json=body).json()["applied"] is False
    assert users.require_user(user_id).credits == Decimal("36.00")
    assert users.require_user(demo["admin"]["user_id"]).credits == 0  # the other user got nothing
    assert sum(e["amount"] for e in ledger.entries(user_id)) == Decimal("36.00")


def test_add_credits_errors(client, demo):
    headers = bearer(demo["admin"]["key"])
    assert_error(client.post("/admin/add_credits", headers=headers, json={"user_id": "user_nope", "credits": 1, "reason": "x"}),
                 404, "does not exist")
    assert_error(client.post("/admin/add_credits", headers=headers,
                             json={"user_id": demo["live"]["user_id"], "credits": -5, "reason": "x"}), 400, "credits")
    assert_error(client.post("/admin/add_credits", headers=headers,
                             json={"user_id": demo["live"]["user_id"], "credits": 5}), 400, "reason")
