"""POST /auth/privy: ES256 Privy tokens verified for signature, issuer, audience and expiry; first sign-in creates
the user, every sign-in issues an expiring session key."""

from __future__ import annotations

from gateway_common import apikeys, audit, db, timeutil, users
from tests.helpers import assert_error, bearer

from .privy_tokens import make_signer


def _audit(action: str) -> list[dict]:
    return [i for i in db.table(audit.AUDIT).scan()["Items"] if i.get("action") == action]


def test_first_sign_in_creates_the_user_with_a_session_key(client, privy):
    response = client.post("/auth/privy", json={"token": privy.token("did:privy:new1", email="New1@Example.com"),
                                                "auth_method": "google"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["is_new_user"] is True and body["email"] == "new1@example.com" and body["username"] == "new1@example.com"
    assert body["plan_id"] == 1 and body["role"] == "user" and body["credits"] == 0.0
    # the Free plan is in force ("active", as for every account); the trial is offered, not started
    assert body["subscription_status"] == "active" and body["trial_available"] is True
    assert users.get_user(body["user_id"]).trial is None
    assert body["api_key"].startswith("gw_live_")
    balance = client.get("/user/balance", headers=bearer(body["api_key"])).json()
    assert balance["user_id"] == body["user_id"]
    stored = apikeys.get_key(body["key_id"])
    assert stored is not None and stored.expires_at is not None and stored.key_name == "Privy session"
    assert abs(stored.expires_at - (timeutil.now_ts() + 3600)) < 5
    assert body["api_key"] not in str(db.table("ApiKeysTable").scan()["Items"])  # only the hash is stored
    created, signed_in = _audit("user_created"), _audit("sign_in")
    assert [c["resource_id"] for c in created] == [body["user_id"]] and created[0]["details"]["via"] == "privy_sign_in"
    assert signed_in[0]["user_id"] == body["user_id"] and signed_in[0]["resource_id"] == body["key_id"]
    assert body["api_key"] not in str(created + signed_in)


def test_returning_user_gets_the_same_account_and_a_new_key(client, privy):
    first = client.post("/auth/privy", json={"token": privy.token("did:privy:bob", email="bob@example.com")}).json()
    again = client.post("/auth/privy", json={"token": privy.token("did:privy:bob", email="bob@example.com")}).json()
    assert again["is_new_user"] is False and again["user_id"] == first["user_id"]
    assert again["api_key"] != first["api_key"]
    assert len(_audit("user_created")) == 1 and len(_audit("sign_in")) == 2
    assert client.get("/user/balance", headers=bearer(first["api_key"])).status_code == 200  # both sessions valid


def test_session_key_expires_and_is_retired_at_next_sign_in(client, privy):
    first = client.post("/auth/privy", json={"token": privy.token("did:privy:carol")}).json()
    assert first["username"] == "did:privy:carol" and first["email"] is None
    timeutil.shift_clock(3601)
    assert_error(client.get("/user/balance", headers=bearer(first["api_key"])), 401, "expired")
    second = client.post("/auth/privy", json={"token": privy.token("did:privy:carol")}).json()
    assert client.get("/user/balance", headers=bearer(second["api_key"])).status_code == 200
    live = [k.key_id for k in apikeys.list_user_keys(first["user_id"])]
    assert live == [second["key_id"]]


def test_expired_token_is_401_saying_expired(client, privy):
    response = client.post("/auth/privy", json={"token": privy.token(ttl=-120)})
    body = assert_error(response, 401, "expired")
    assert body["error"]["code"] == "privy_token_expired"
    assert users.get_user("x") is None and db.table("UsersTable").scan()["Items"] == []


def test_wrong_audience_is_401_saying_audience(client, privy):
    assert_error(client.post("/auth/privy", json={"token": privy.token(aud="another-app")}), 401, "audience")


def test_wrong_issuer_is_401_saying_issuer(client, privy):
    assert_error(client.post("/auth/privy", json={"token": privy.token(iss="evil.example")}), 401, "issuer")


def test_wrong_signature_is_401_saying_signature(client, privy):
    forged = make_signer().token("did:privy:alice")  # right claims, another key
    assert_error(client.post("/auth/privy", json={"token": forged}), 401, "signature")
    header, _, signature = privy.token("did:privy:alice").split(".")
    other_payload = privy.token("did:privy:mallory").split(".")[1]  # a genuine signature over another payload
    tampered = ".".join((header, other_payload, signature))
    assert_error(client.post("/auth/privy", json={"token": tampered}), 401, "signature")
    assert db.table("UsersTable").scan()["Items"] == []


def test_malformed_tokens_are_401_saying_malformed(client, privy):
    for token in ("not-a-jwt", "a.b.c", "e30.e30.", privy.token()[:-30] + "!!!"):
        response = client.post("/auth/privy", json={"token": token})
        assert response.status_code == 401, (token, response.text)
        detail = response.json()["detail"].lower()
        assert "malformed" in detail or "signature" in detail or "algorithm" in detail, detail


def test_other_algorithms_and_missing_claims_are_refused(client, privy):
    import jwt

    hs = jwt.encode({"sub": "did:privy:x", "iss": "privy.io", "aud": "clapp_test_gateway", "exp": 9999999999, "iat": 1},
                    "secret-but-long-enough-for-hmac-sha256", algorithm="HS256")
    assert_error(client.post("/auth/privy", json={"token": hs}), 401, "algorithm", "ES256")
    none = jwt.encode({"sub": "did:privy:x"}, None, algorithm="none")
    assert_error(client.post("/auth/privy", json={"token": none}), 401, "algorithm")
    no_sub = privy.token(sub=None)
    assert_error(client.post("/auth/privy", json={"token": no_sub}), 401, "sub")


def test_expiry_tolerates_30s_of_clock_skew_and_no_more(client, privy):
    assert client.post("/auth/privy", json={"token": privy.token("did:privy:skew", ttl=-20)}).status_code == 200
    assert_error(client.post("/auth/privy", json={"token": privy.token("did:privy:skew", ttl=-31)}), 401, "expired")
    assert_error(client.post("/auth/privy", json={"token": privy.token("did:privy:skew", iat_offset=120)}), 401, "not valid yet")
    later = privy.token("did:privy:skew", ttl=600)
    timeutil.shift_clock(700)  # the same token, once its exp has passed on the gateway's clock
    assert_error(client.post("/auth/privy", json={"token": later}), 401, "expired")


def test_bad_bodies_are_400_naming_the_field(client, privy):
    assert_error(client.post("/auth/privy", json={}), 400, "token")
    assert_error(client.post("/auth/privy", json={"token": privy.token(), "auth_method": "carrier-pigeon"}), 400, "auth_method")
    assert_error(client.post("/auth/privy", json={"token": privy.token(), "tokn": 1}), 400, "tokn")


def test_unconfigured_privy_is_503(client, monkeypatch):
    monkeypatch.delenv("PRIVY_APP_ID", raising=False)
    monkeypatch.delenv("PRIVY_VERIFICATION_KEY", raising=False)
    assert_error(client.post("/auth/privy", json={"token": "a.b.c"}), 503, "not configured")


def test_email_of_another_account_is_not_taken_over(client, privy, demo):
    body = client.post("/auth/privy", json={"token": privy.token("did:privy:mallory", email="demo@gateway.local")}).json()
    assert body["user_id"] != demo["live"]["user_id"] and body["email"] is None
    assert body["username"] == "did:privy:mallory"  # not a name that shows the other account's address
    assert users.find_by_email("demo@gateway.local").user_id == demo["live"]["user_id"]


def test_suspended_account_cannot_sign_in(client, privy):
    body = client.post("/auth/privy", json={"token": privy.token("did:privy:dave")}).json()
    users.update_fields(body["user_id"], {"status": "suspended"})
    assert_error(client.post("/auth/privy", json={"token": privy.token("did:privy:dave")}), 401, "suspended")


def test_auth_config_is_public_and_reveals_no_key(client, privy, monkeypatch):
    body = client.get("/auth/config").json()
    assert body == {"success": True, "privy_enabled": True, "privy_app_id": "clapp_test_gateway", "session_ttl_seconds": 3600}
    assert "BEGIN PUBLIC KEY" not in str(body)
    monkeypatch.setenv("PRIVY_VERIFICATION_KEY", "not a pem")
    assert client.get("/auth/config").json()["privy_enabled"] is False


def test_an_address_claimed_concurrently_still_signs_in_without_it(client, privy, monkeypatch):
    other = users.create_user(username="first", email="race@example.com", plan_id=1)
    # the address was free when this sign-in looked, and claimed before its write: the write's condition refuses it
    monkeypatch.setattr(users, "find_by_email", lambda email: None)
    response = client.post("/auth/privy", json={"token": privy.token("did:privy:racer", email="race@example.com")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["email"] is None and body["user_id"] != other.user_id and body["username"] == "did:privy:racer"
    assert client.get("/user/balance", headers=bearer(body["api_key"])).status_code == 200


def test_live_sessions_are_bounded_oldest_revoked_first(client, privy):
    from gw_auth.logic import MAX_LIVE_SESSIONS

    signed = []
    for _ in range(MAX_LIVE_SESSIONS + 2):
        signed.append(client.post("/auth/privy", json={"token": privy.token("did:privy:frequent")}).json())
        timeutil.shift_clock(1)  # key times are to the second: "oldest" is well defined one second apart
    user_id = signed[0]["user_id"]
    live = {k.key_id for k in apikeys.list_user_keys(user_id) if k.status == "active"}
    assert live == {s["key_id"] for s in signed[-MAX_LIVE_SESSIONS:]}
    assert_error(client.get("/user/balance", headers=bearer(signed[0]["api_key"])), 401)
    assert client.get("/user/balance", headers=bearer(signed[-MAX_LIVE_SESSIONS]["api_key"])).status_code == 200
    revoked = [e["details"]["revoked_sessions"] for e in sorted(_audit("sign_in"), key=lambda e: e["sk"])]
    assert revoked[-2:] == [[signed[0]["key_id"]], [signed[1]["key_id"]]] and revoked[0] == []
