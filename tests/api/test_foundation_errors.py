"""Every foundation endpoint's error paths: 401 without a key, 403 without the scope, rate-limit headers on errors,
and logs that carry the request id but never a key."""

from __future__ import annotations

import io
import json

import pytest

from gateway_common import apikeys
from gateway_common.observability import logger
from tests.helpers import assert_error, bearer

AUTHENTICATED = [
    ("GET", "/user/balance", None),
    ("GET", "/user/api-keys", None),
    ("POST", "/user/api-keys", {"key_name": "k"}),
    ("PUT", "/user/api-keys/key_000000000000000000000000", {"key_name": "k"}),
    ("DELETE", "/user/api-keys/key_000000000000000000000000", None),
    ("GET", "/user/plan", None),
    ("POST", "/admin/create", {"username": "u", "email": "u@example.com"}),
    ("POST", "/admin/add_credits", {"user_id": "user_x", "credits": 1, "reason": "r"}),
    ("POST", "/api/validate", None),
]


@pytest.mark.parametrize(("method", "path", "body"), AUTHENTICATED, ids=lambda v: str(v))
def test_no_key_is_401_and_a_key_without_scopes_is_403(client, demo, method, path, body):
    assert_error(client.request(method, path, json=body), 401, "missing api key")
    assert_error(client.request(method, path, json=body, headers=bearer("gw_live_" + "x" * 43)), 401, "no such key")
    scopeless, _ = apikeys.create_gw_key(
        user_id=demo["admin"]["user_id"], key_name="nothing", environment="live", scope_permissions={"read": [], "write": []}
    )
    response = client.request(method, path, json=body, headers=bearer(scopeless))
    assert_error(response, 403, "lacks the")


def test_errors_after_authentication_still_carry_rate_limit_headers(client, demo):
    response = client.put("/user/api-keys/key_nope", headers=bearer(demo["live"]["key"]), json={"key_name": "x"})
    assert_error(response, 404, "not found")
    assert int(response.headers["x-ratelimit-limit"]) == 120
    assert int(response.headers["x-ratelimit-remaining"]) == 119


def test_logs_carry_the_request_id_and_never_a_key(client, demo):
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        raw = client.post(
            "/user/api-keys", headers={**bearer(demo["live"]["key"]), "X-Request-Id": "req-log-test"},
            json={"key_name": "logged"},
        ).json()["api_key"]
    finally:
        logger.registered_handler.setStream(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    audit_lines = [line for line in lines if line.get("message") == "audit"]
    assert audit_lines and audit_lines[0]["request_id"] == "req-log-test"
    assert audit_lines[0]["action"] == "api_key_created"
    text = json.dumps(lines)
    assert raw not in text and demo["live"]["key"] not in text
