"""Roles: read, change (audited, with reason), list through the role-members index; never zero admins."""

from __future__ import annotations

import threading

from gateway_common import audit, db, users
from tests.helpers import assert_error, bearer

from .conftest import make_user


def _entries(action: str) -> list[dict]:
    return [i for i in db.table(audit.AUDIT).scan()["Items"] if i.get("action") == action]


def test_get_role_with_permissions(client, demo):
    admin = bearer(demo["admin"]["key"])
    body = client.get(f"/roles/{demo['live']['user_id']}", headers=admin).json()
    assert body["role"] == "user" and body["user_id"] == demo["live"]["user_id"] and "api:read" in body["permissions"]
    assert not any(p.startswith("admin:") for p in body["permissions"])
    mine = client.get(f"/roles/{demo['admin']['user_id']}", headers=admin).json()
    assert mine["role"] == "admin" and "admin:roles" in mine["permissions"]
    assert_error(client.get("/roles/user_nobody", headers=admin), 404, "user_nobody")


def test_promotion_takes_effect_on_the_next_request_and_is_audited(client, demo):
    user = demo["live"]
    assert_error(client.get("/roles", headers=bearer(user["key"])), 403, "admin role")
    response = client.put(f"/roles/{user['user_id']}", headers=bearer(demo["admin"]["key"]),
                          json={"role": "admin", "reason": "On-call engineer"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["old_role"], body["new_role"], body["message"]) == ("user", "admin", "Role updated successfully")
    assert client.get("/roles", headers=bearer(user["key"])).status_code == 200  # next request: admin
    [entry] = _entries("role_changed")
    assert entry["user_id"] == demo["admin"]["user_id"] and entry["resource_id"] == user["user_id"]
    assert entry["details"] == {"target_user_id": user["user_id"], "old_role": "user", "new_role": "admin",
                                "reason": "On-call engineer"}
    # and back: the demoted user loses admin routes on the next request
    client.put(f"/roles/{user['user_id']}", headers=bearer(demo["admin"]["key"]), json={"role": "user", "reason": "Rotation over"})
    assert_error(client.get("/roles", headers=bearer(user["key"])), 403, "admin role")
    assert len(_entries("role_changed")) == 2


def test_same_role_is_a_no_op_without_audit(client, demo):
    body = client.put(f"/roles/{demo['live']['user_id']}", headers=bearer(demo["admin"]["key"]),
                      json={"role": "user", "reason": "x"}).json()
    assert body["old_role"] == body["new_role"] == "user" and "already" in body["message"]
    assert _entries("role_changed") == []


def test_the_last_admin_cannot_be_removed(client, demo):
    admin = demo["admin"]
    assert_error(client.put(f"/roles/{admin['user_id']}", headers=bearer(admin["key"]), json={"role": "user", "reason": "bye"}),
                 409, "last admin")
    assert users.get_user(admin["user_id"]).role == "admin" and _entries("role_changed") == []
    other = make_user("second-admin", role="admin")
    ok = client.put(f"/roles/{admin['user_id']}", headers=bearer(other["key"]), json={"role": "user", "reason": "handover"})
    assert ok.status_code == 200, ok.text
    assert_error(client.put(f"/roles/{other['user_id']}", headers=bearer(other["key"]), json={"role": "user", "reason": "x"}),
                 409, "last admin")


def test_concurrent_mutual_demotions_leave_an_admin(client, dynamo):
    for round_ in range(3):
        a, b = make_user(f"adm-a{round_}", role="admin"), make_user(f"adm-b{round_}", role="admin")
        for u in users_with_role_admin():
            if u not in (a["user_id"], b["user_id"]):
                users.update_fields(u, {"role": "user"})
        results: dict[str, int] = {}
        barrier = threading.Barrier(2)

        def demote(actor: dict, target: dict, results: dict = results, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            r = client.put(f"/roles/{target['user_id']}", headers=bearer(actor["key"]), json={"role": "user", "reason": "race"})
            results[target["user_id"]] = r.status_code

        threads = [threading.Thread(target=demote, args=(a, b)), threading.Thread(target=demote, args=(b, a))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results.values()) in ([200, 409], [200, 403]), results  # 403: the loser was demoted first
        assert len(users_with_role_admin()) == 1
        for u in (a, b):
            users.update_fields(u["user_id"], {"role": "user"})


def users_with_role_admin() -> list[str]:
    return [i["user_id"] for i in db.table("UsersTable").scan()["Items"] if i.get("role") == "admin"]


def test_list_roles_filters_and_pages(client, demo):
    admin = bearer(demo["admin"]["key"])
    extra = [make_user(f"member{i}") for i in range(3)]
    everyone = client.get("/roles?limit=500", headers=admin).json()
    assert everyone["total"] == len(everyone["data"]) == 4 + 3
    assert everyone["data"][0]["role"] == "admin" and set(everyone["permissions"]) >= {"user", "admin"}
    only_users = client.get("/roles?role=user&limit=2&offset=1", headers=admin).json()
    assert only_users["total"] == 6 and len(only_users["data"]) == 2
    assert all(r["role"] == "user" for r in only_users["data"])
    page_ids = [r["user_id"] for r in client.get("/roles?role=user&limit=500", headers=admin).json()["data"]]
    assert [r["user_id"] for r in only_users["data"]] == page_ids[1:3]
    assert {e["user_id"] for e in extra} <= set(page_ids)
    listed = {r["user_id"]: r for r in everyone["data"]}[extra[0]["user_id"]]  # every field comes from the index
    assert (listed["email"], listed["username"], listed["status"]) == (extra[0]["email"], "member0", "active")
    assert listed["assigned_at"] is not None
    assert_error(client.get("/roles?role=root", headers=admin), 400, "role")
    assert_error(client.get("/roles?limit=0", headers=admin), 400, "limit")


def test_bad_role_bodies_are_400(client, demo):
    admin = bearer(demo["admin"]["key"])
    uid = demo["live"]["user_id"]
    assert_error(client.put(f"/roles/{uid}", headers=admin, json={"role": "root", "reason": "x"}), 400, "role")
    assert_error(client.put(f"/roles/{uid}", headers=admin, json={"role": "admin"}), 400, "reason")
    assert_error(client.put("/roles/user_nobody", headers=admin, json={"role": "admin", "reason": "x"}), 404, "user_nobody")
    long_id = "u" * 101
    assert_error(client.put(f"/roles/{long_id}", headers=admin, json={"role": "admin", "reason": "x"}), 400, "user_id")
    assert_error(client.get(f"/roles/{long_id}", headers=admin), 400, "user_id")
    assert_error(client.get("/roles?offset=-1", headers=admin), 400, "offset")
