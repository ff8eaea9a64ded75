"""Auto top-up: a saved card, one off-session PaymentIntent per threshold crossing, credits through the webhook, off
after 3 failures in a row, never for sandbox keys."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx

from gateway_common import autotopup, billing, db, ledger, metering, usage, users
from gateway_common.timeutil import iso_now
from tests.helpers import assert_error, audit_entries, bearer, hold_credits
from tests.payments import stripe_billing as sb
from tests.payments import stripe_fakes as sf

PM = "pm_1QcardVisa4242" + "0" * 9
OPENAI = "https://api.openai.com/v1/chat/completions"
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 20}


def _settle(person: dict[str, str], cost: str) -> bool:
    """One AI request through the real admission and settle, then the settle path's auto top-up check."""
    res = hold_credits(person["key"], Decimal("0.50"))
    record = usage.UsageRecord(user_id=person["user_id"], request_id=res.reservation_id, key_id=person["key_id"],
                               plan_id=res.plan_id, endpoint=res.endpoint, model=res.model, provider="openai",
                               prompt_tokens=10, completion_tokens=10, total_tokens=20, cost=Decimal(cost),
                               created_at=iso_now())
    assert metering.settle(res, record)
    autotopup.after_settle(person["user_id"], None, sandbox=False, hint=users.get_user(person["user_id"]))
    return True


def armed_user(client: Any, deliver: Any, make_user: Any, *, credits: str = "10.00", threshold: float = 5,
               amount: float = 20) -> dict[str, str]:
    person = make_user()
    users.update_fields(person["user_id"], {"plan_id": 2})  # Pro: its request limits leave room for the settles here
    ledger.credit(user_id=person["user_id"], amount=Decimal(credits), entry_id=f"test:{person['user_id']}", reason="t")
    headers = bearer(person["key"])
    assert_error(client.put("/billing/auto-topup", headers=headers,
                            json={"enabled": True, "threshold": threshold, "amount": amount}), 409, "save a card first")
    setup = client.post("/billing/auto-topup/setup", headers=headers)
    assert setup.status_code == 200, setup.text
    customer = users.require_user(person["user_id"]).stripe_customer_id
    saved = deliver(sf.event("setup_intent.succeeded", sb.setup_intent(person["user_id"], customer, PM)))
    assert saved.json()["outcome"] == "card_saved"
    view = client.put("/billing/auto-topup", headers=headers, json={"enabled": True, "threshold": threshold,
                                                                      "amount": amount})
    assert view.status_code == 200, view.text
    assert view.json() == {"success": True, "enabled": True, "threshold": threshold, "amount": amount,
                           "card_saved": True, "failures": 0, "pending": False, "disabled_reason": None}
    return person


def test_saving_a_card_uses_setup_mode_checkout(client, make_user, billing_api, deliver):
    person = armed_user(client, deliver, make_user)
    form = billing_api.calls["checkout"][0]
    assert form["mode"] == "setup" and form["customer"] == users.require_user(person["user_id"]).stripe_customer_id
    assert form["setup_intent_data[metadata][purpose]"] == "auto_topup"
    assert users.require_user(person["user_id"]).auto_topup.payment_method == PM


def test_20_parallel_settles_crossing_the_threshold_make_exactly_one_top_up(client, make_user, billing_api, deliver):
    person = armed_user(client, deliver, make_user)
    with ThreadPoolExecutor(20) as pool:
        assert all(pool.map(lambda _: _settle(person, "0.40"), range(20)))
    assert users.require_user(person["user_id"]).credits == Decimal("2.00")
    intents = billing_api.calls.get("payment_intents", [])
    assert len(intents) == 1
    form, headers = intents[0], billing_api.headers["payment_intents"][0]
    assert form["amount"] == "2000" and form["currency"] == "usd" and form["off_session"] == "true"
    assert form["confirm"] == "true" and form["payment_method"] == PM and form["metadata[auto_topup]"] == "1"
    assert headers["idempotency-key"] == f"autotopup:{person['user_id']}:1"
    assert billing.get(f"TOPUP#{person['user_id']}#1", "TOPUP")["balance"] < Decimal("5")
    assert len(audit_entries("auto_topup_started")) == 1
    # below the threshold with the top-up on its way: further settles start nothing
    _settle(person, "0.10")
    assert len(billing_api.calls["payment_intents"]) == 1
    # the credits arrive through the webhook like any payment, and the rule re-arms
    pi = "pi_3" + secrets.token_hex(12)
    intent = sf.payment_intent(person["user_id"], cents=2000, pi=pi) | {"metadata": {
        "user_id": person["user_id"], "credits": "20", "currency": "usd", "auto_topup": "1"}}
    assert deliver(sf.event("payment_intent.succeeded", intent)).json()["outcome"] == "credited"
    user = users.require_user(person["user_id"])
    assert user.credits == Decimal("21.90") and user.auto_topup.armed and user.auto_topup.pending is None
    assert [e["amount"] for e in ledger.entries(person["user_id"]) if e["entry_id"] == f"stripe:{pi}"] == [Decimal("20.00")]


def test_three_failed_top_ups_in_a_row_switch_it_off_with_an_activity_event(client, make_user, billing_api, deliver):
    person = armed_user(client, deliver, make_user, credits="5.05")
    billing_api.decline = True
    for expected in (1, 2, 3):
        _settle(person, "0.10")  # each settle below the threshold is a new crossing once the last one failed
        rule = users.require_user(person["user_id"]).auto_topup
        assert rule.failures == expected and len(billing_api.calls["payment_intents"]) == expected
    # Stripe's payment_failed event for the last crossing's PaymentIntent counts nothing twice
    failed = sf.payment_intent(person["user_id"], cents=2000, pi=sf.new_pi(), status="requires_payment_method")
    failed["metadata"]["auto_topup"] = "3"
    assert deliver(sf.event("payment_intent.payment_failed", failed)).status_code == 200
    rule = users.require_user(person["user_id"]).auto_topup
    assert rule.enabled is False and rule.failures == 3 and "3 failed top-ups" in rule.disabled_reason
    _settle(person, "0.10")
    assert len(billing_api.calls["payment_intents"]) == 3  # off: no fourth attempt
    events = db.table("ActivityTable").scan()["Items"]
    assert [e["event_type"] for e in events if e["user_id"] == person["user_id"]] == ["auto_topup_disabled"]
    assert "card was declined" in events[0]["event_data"].lower()
    shown = client.get("/activity/history?event_type=auto_topup_disabled", headers=bearer(person["key"]))
    assert shown.status_code == 200, shown.text
    assert [e["event_type"] for e in shown.json()["data"]] == ["auto_topup_disabled"]
    assert "3 failed top-ups" in str(shown.json()["data"][0]["event_data"])
    view = client.get("/billing/auto-topup", headers=bearer(person["key"])).json()
    assert view["enabled"] is False and view["disabled_reason"].startswith("Auto top-up turned off")


def test_a_success_between_failures_resets_the_count(client, make_user, billing_api, deliver):
    person = armed_user(client, deliver, make_user, credits="5.05")
    billing_api.decline = True
    _settle(person, "0.10")
    _settle(person, "0.01")
    billing_api.decline = False
    _settle(person, "0.01")
    assert users.require_user(person["user_id"]).auto_topup.failures == 2
    assert autotopup.record_result(person["user_id"], 3, succeeded=True) == "topup_succeeded"
    assert autotopup.record_result(person["user_id"], 3, succeeded=False) == "already_recorded"
    assert users.require_user(person["user_id"]).auto_topup.failures == 0


def test_the_chat_route_starts_a_top_up_for_live_keys_and_never_for_sandbox_keys(client, make_user, billing_api, deliver,
                                                                                  monkeypatch):
    from gateway_common import apikeys

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    billing_api.mock.post(OPENAI).mock(return_value=httpx.Response(200, json={
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1741569952, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}}))
    person = armed_user(client, deliver, make_user, credits="10.00", threshold=10)
    sandbox_key, _ = apikeys.create_gw_key(user_id=person["user_id"], key_name="sandbox", environment="test")
    for _ in range(2):
        assert client.post("/v1/chat/completions", headers=bearer(sandbox_key), json=CHAT).status_code == 200
    assert "payment_intents" not in billing_api.calls  # sandbox keys are never charged, never topped up
    served = client.post("/v1/chat/completions", headers=bearer(person["key"]), json=CHAT)
    assert served.status_code == 200, served.text
    assert [f["metadata[auto_topup]"] for f in billing_api.calls["payment_intents"]] == ["1"]
    assert autotopup.after_settle(person["user_id"], Decimal("0"), sandbox=True) is None


def test_auto_top_up_settings_are_validated_and_owner_only(client, make_user, billing_api):
    person, other = make_user(), make_user()
    headers = bearer(person["key"])
    assert_error(client.put("/billing/auto-topup", headers=headers, json={"enabled": False, "threshold": 5,
                                                                          "amount": 1}), 400, "amount")
    assert_error(client.put("/billing/auto-topup", headers=headers, json={"enabled": False, "threshold": -1,
                                                                          "amount": 10}), 400, "threshold")
    assert client.put("/billing/auto-topup", headers=headers,
                      json={"enabled": False, "threshold": 5, "amount": 10}).status_code == 200
    assert client.get("/billing/auto-topup", headers=bearer(other["key"])).json()["threshold"] == 0
    assert client.get("/billing/auto-topup").status_code == 401
