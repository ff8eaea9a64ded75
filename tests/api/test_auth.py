"""Key authentication through a real endpoint: every 401 and 403 path, both headers, both key formats."""

from __future__ import annotations

from gateway_common import apikeys, timeutil, users
from tests.helpers import assert_error, bearer


def test_missing_key_is_401_with_a_message_that_says_how(client):
    body = assert_error(client.get("/user/balance"), 401, "missing api key", "Authorization: Bearer")
    assert body["error"]["type"] == "authentication_error"


def test_malformed_keys_are_401(client):
    assert_error(client.get("/user/balance", headers=bearer("not-a-key")), 401, "invalid api key format")
    assert_error(client.get("/user/balance", headers={"Authorization": "Token abc"}), 401, "malformed authorization")
    assert_error(client.get("/user/balance", headers={"X-License-Key": "INVALID-KEY-TEST"}), 401, "format")


def test_unknown_well_formed_keys_are_401(client, demo):
    assert_error(client.get("/user/balance", headers=bearer("gw_live_" + "A" * 43)), 401, "no such key")
    unknown_license = {"X-License-Key": "CHA-00000000-00000000-00000000-00000000"}
    assert_error(client.get("/user/balance", headers=unknown_license), 401, "no such key")


def test_both_headers_and_both_formats_authenticate(client, demo):
    by_bearer = client.get("/user/balance", headers=bearer(demo["live"]["key"]))
    by_license_header = client.get("/user/balance", headers={"X-License-Key": demo["live"]["key"]})
    assert by_bearer.json()["user_id"] == by_license_header.json()["user_id"] == demo["live"]["user_id"]
    license_response = client.get("/user/balance", headers={"X-License-Key": demo["license_pro"]["key"]})
    assert license_response.json()["user_id"] == demo["license_pro"]["user_id"]


def test_inactive_deleted_and_expired_keys_are_401(client, demo):
    user_id = demo["live"]["user_id"]
    raw, record = apikeys.create_gw_key(user_id=user_id, key_name="k", environment="live")
    assert client.get("/user/balance", headers=bearer(raw)).status_code == 200

    apikeys.update_key(user_id, record.key_id, key_name=None, is_active=False)
    assert_error(client.get("/user/balance", headers=bearer(raw)), 401, "inactive")

    apikeys.delete_key(user_id, record.key_id)
    assert_error(client.get("/user/balance", headers=bearer(raw)), 401, "deleted")

    # from the gateway clock: it stands still in tests while time.time() runs on (a slow run crossed the 60 s)
    expiring, _ = apikeys.create_gw_key(
        user_id=user_id, key_name="session", environment="live", expires_at=int(timeutil.now_ts()) + 60
    )
    assert client.get("/user/balance", headers=bearer(expiring)).status_code == 200
    timeutil.shift_clock(61)
    assert_error(client.get("/user/balance", headers=bearer(expiring)), 401, "expired")


def test_suspended_account_is_401(client, demo):
    users.update_fields(demo["live"]["user_id"], {"status": "suspended"})
    assert_error(client.get("/user/balance", headers=bearer(demo["live"]["key"])), 401, "suspended")


def test_key_without_the_needed_scope_is_403(client, demo):
    raw, _ = apikeys.create_gw_key(
        user_id=demo["live"]["user_id"], key_name="read only", environment="live",
        scope_permissions={"read": ["balance"], "write": []},
    )
    assert client.get("/user/balance", headers=bearer(raw)).status_code == 200
    assert_error(client.get("/user/api-keys", headers=bearer(raw)), 403, "'read' permission on 'api_keys'")
    response = client.post("/user/api-keys", headers=bearer(raw), json={"key_name": "x"})
    assert_error(response, 403, "'write' permission on 'api_keys'")
