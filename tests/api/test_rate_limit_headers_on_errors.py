"""Authenticated refusals carry the rate-limit headers too (README: "every authenticated response"): 402 credits,
402 budgets (the account's and a key's), 403 scope, 403 admin, 403 BYOK on /api/chat, 404 unknown session_id, and the
legacy usage route's scope check."""

from __future__ import annotations

from decimal import Decimal

from gateway_common import account_state, apikeys, db, ledger, plans, users
from gateway_common.keys import generate_license_key
from gateway_common.models import KeyCaps
from gateway_common.timeutil import now_ts
from tests.helpers import assert_error, bearer


def _assert_window(response, limit: int, remaining: int) -> None:
    headers = response.headers
    assert headers.get("x-ratelimit-limit") == str(limit), (response.status_code, dict(headers))
    assert headers.get("x-ratelimit-remaining") == str(remaining), dict(headers)
    assert now_ts() < int(headers["x-ratelimit-reset"]) <= now_ts() + 60  # a minute window, the tightest here


def _chat(client, key, **extra):
    return client.post("/v1/chat/completions", headers=bearer(key),
                       json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, **extra)


def test_402_for_credits_carries_the_plans_window(client, demo):
    broke = users.create_user(username="broke", email="broke@example.com", plan_id=plans.get_plan("pro").id)
    raw, _ = apikeys.create_gw_key(user_id=broke.user_id, key_name="broke", environment="live")
    response = _chat(client, raw)
    assert_error(response, 402)
    minute = plans.get_plan("pro").limits.windows()["minute"]
    _assert_window(response, minute, minute)  # refused: nothing stays counted, the window is still full


def test_404_for_an_unknown_session_carries_the_plans_window(client, demo):
    ledger.credit(user_id=demo["live"]["user_id"], amount=Decimal("1"), entry_id="t:sess", reason="t")
    response = _chat(client, demo["live"]["key"], params={"session_id": 987654})
    assert_error(response, 404)
    minute = plans.get_plan("free").limits.windows()["minute"]
    _assert_window(response, minute, minute)


def test_403_byok_on_api_chat_carries_the_plans_window(client, demo):
    response = client.post("/api/chat", headers={"X-License-Key": demo["license_starter"]["key"]},
                           json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert_error(response, 403)
    assert int(response.headers["x-ratelimit-limit"]) > 0
    assert int(response.headers["x-ratelimit-remaining"]) == int(response.headers["x-ratelimit-limit"])


def test_403_scope_and_admin_refusals_carry_the_endpoints_window(client, demo):
    scopeless, _ = apikeys.create_gw_key(user_id=demo["live"]["user_id"], key_name="scopeless", environment="live",
                                         scope_permissions={"read": [], "write": []})
    first = client.get("/user/balance", headers=bearer(scopeless))
    assert_error(first, 403, "lacks the 'read' permission")
    _assert_window(first, 120, 119)
    second = client.get("/user/balance", headers=bearer(scopeless))
    _assert_window(second, 120, 118)  # counted like any request of the key: refusals are no free probe
    admin_only = client.get("/admin/monitor", headers=bearer(demo["live"]["key"]))
    assert_error(admin_only, 403, "admin role")
    assert int(admin_only.headers["x-ratelimit-remaining"]) == int(admin_only.headers["x-ratelimit-limit"]) - 1


def test_legacy_usage_route_checks_scopes_like_usage_current(client, demo):
    owner = demo["license_pro"]["user_id"]
    scopeless, _ = apikeys.create_gw_key(user_id=owner, key_name="no-read", environment="live",
                                         scope_permissions={"read": [], "write": ["*"]})
    assert_error(client.get("/api/usage/current", headers=bearer(scopeless)), 403, "lacks the 'read' permission")
    legacy = client.get(f"/api/usage/{scopeless}")
    assert_error(legacy, 403, "lacks the 'read' permission on 'usage'")
    assert legacy.headers.get("x-ratelimit-limit")
    assert client.get(f"/api/usage/{demo['license_pro']['key']}").status_code == 200


def test_402_budget_refusals_carry_the_window_the_account_and_the_key(client, demo):
    """The AI-included monthly budget (a license account) and a key's own max_budget: both 402s name their budget
    and carry the window the request was checked against, unchanged (a refusal counts nothing)."""
    plan = plans.get_plan("license_pro")
    user = users.create_user(username="spent", email="spent@license.test", plan_id=plan.id, currency=plan.currency)
    license_key = generate_license_key()
    apikeys.store_key(license_key, user_id=user.user_id, key_name="license", plan_id=plan.id)
    month = account_state.read(user.user_id).month
    db.table("UsersTable").update_item(
        Key={"user_id": user.user_id}, UpdateExpression="SET #b = :used",
        ExpressionAttributeNames={"#b": f"budget#used#{month}"}, ExpressionAttributeValues={":used": plan.monthly_budget})
    spent = client.post("/api/chat", headers={"X-License-Key": license_key},
                        json={"messages": [{"role": "user", "content": "hi"}]})
    assert_error(spent, 402, "Monthly budget exceeded")
    assert spent.json()["error"]["code"] == "budget_exceeded"
    minute = plan.limits.windows()["minute"]
    _assert_window(spent, minute, minute)

    ledger.credit(user_id=demo["live"]["user_id"], amount=Decimal("5"), entry_id="t:keybudget", reason="t")
    capped, _ = apikeys.create_gw_key(user_id=demo["live"]["user_id"], key_name="capped", environment="live",
                                      caps=KeyCaps(max_budget=Decimal("0.0000001")))
    refused = _chat(client, capped)
    assert_error(refused, 402, "This key's monthly budget")
    assert refused.json()["error"]["code"] == "key_budget_exceeded"
    free_minute = plans.get_plan("free").limits.windows()["minute"]
    _assert_window(refused, free_minute, free_minute)


def test_402_on_every_ai_surface_carries_the_plans_window(client, demo):
    """Responses, Messages (Anthropic's error shape, its own error path) and embeddings refuse like chat does."""
    broke = users.create_user(username="broke2", email="broke2@example.com", plan_id=plans.get_plan("pro").id)
    raw, _ = apikeys.create_gw_key(user_id=broke.user_id, key_name="broke", environment="live")
    minute = plans.get_plan("pro").limits.windows()["minute"]
    calls = [("/v1/responses", {"model": "openai/gpt-4o-mini", "input": "hi"}),
             ("/v1/messages", {"model": "openai/gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}),
             ("/v1/embeddings", {"model": "openai/text-embedding-3-small", "input": "hi"})]
    for path, body in calls:
        response = client.post(path, headers=bearer(raw), json=body)
        assert response.status_code == 402, (path, response.text)
        _assert_window(response, minute, minute)
    scopeless, _ = apikeys.create_gw_key(user_id=broke.user_id, key_name="scopeless", environment="live",
                                         scope_permissions={"read": [], "write": []})
    refused = client.post("/v1/messages", headers={"x-api-key": scopeless}, json=calls[1][1])
    assert refused.status_code == 403 and refused.json()["type"] == "error", refused.text
    _assert_window(refused, minute, minute)
