"""Trials: one per user ever, status, convert, the 402 after the end, and the scheduled expiry job."""

from __future__ import annotations

import json
from decimal import Decimal

from gateway_common import audit, db, ledger, trials, users
from gateway_common.errors import PaymentRequired
from gateway_common.timeutil import shift_clock
from local.paths import ROOT
from tests.helpers import admit_ai, assert_error, bearer


def test_start_once_with_credits_requests_and_three_days(client, make_user):
    person = make_user()
    headers = bearer(person["key"])
    started = client.post("/trials/start", headers=headers, json={"trial_type": "standard"})
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["credits"] == 10.0 and body["max_requests"] == 1000 and body["trial_id"].startswith("trial_")
    from gateway_common.timeutil import parse_iso

    assert (parse_iso(body["end_date"]) - parse_iso(body["start_date"])).total_seconds() == 3 * 86400
    user = users.require_user(person["user_id"])
    assert user.credits == Decimal("10.00") and user.subscription_status == "trial" and user.trial.status == "active"
    assert_error(client.post("/trials/start", headers=headers), 409, "one trial per account")
    assert users.require_user(person["user_id"]).credits == Decimal("10.00")
    assert [e["entry_id"] for e in ledger.entries(person["user_id"])] == [f"trial:{person['user_id']}"]


def test_status_counts_requests_and_spent_credits(client, make_user):
    person = make_user()
    headers = bearer(person["key"])
    assert client.get("/trials/status", headers=headers).json() == {"success": True, "trial": None}
    client.post("/trials/start", headers=headers)
    admit_ai(person["key"], 2)  # two AI requests admitted under the trial
    status = client.get("/trials/status", headers=headers).json()["trial"]
    assert status["is_active"] is True and status["remaining_requests"] == 998 and status["requests_used"] == 2
    assert status["remaining_credits"] == 10.0 and status["end_date"].endswith("Z")


def test_after_the_end_ai_requests_get_402_and_the_job_closes_the_trial(client, make_user):
    from gw_trial_expiry.app import handler

    person, paying = make_user(), make_user()
    for p in (person, paying):
        client.post("/trials/start", headers=bearer(p["key"]))
    ledger.credit(user_id=paying["user_id"], amount=Decimal("5"), entry_id="test:bought", reason="bought")
    assert handler({"source": "aws.events"}, None) == {"expired": 0, "user_ids": [], "plans_changed": 0}  # nothing due

    shift_clock(3 * 86400 + 1)
    try:
        trials.check_not_ended(users.require_user(person["user_id"]))
        raise AssertionError("an ended trial must refuse AI requests")
    except PaymentRequired as exc:
        assert "free trial ended" in exc.message and exc.code == "trial_ended"
    event = json.loads((ROOT / "events" / "TrialExpiryFunction.json").read_text())
    result = handler(event, None)
    assert result["expired"] == 2 and set(result["user_ids"]) == {person["user_id"], paying["user_id"]}
    assert handler(event, None)["expired"] == 0  # idempotent
    closed = users.require_user(person["user_id"])
    assert closed.trial.status == "expired" and closed.subscription_status == "expired"
    assert closed.credits == Decimal("0")  # unspent trial credits removed
    assert users.require_user(paying["user_id"]).credits == Decimal("5")  # bought credits stay
    assert [i for i in db.table(audit.AUDIT).scan()["Items"] if i.get("action") == "trial_expired"]
    status = client.get("/trials/status", headers=bearer(person["key"])).json()["trial"]
    assert status["is_active"] is False and status["status"] == "expired" and status["remaining_requests"] == 0
    assert_error(client.post("/trials/start", headers=bearer(person["key"])), 409, "one trial")


def test_convert_checks_the_trial_and_the_plan_and_changes_nothing_until_paid(client, make_user, billing_api):
    person = make_user()
    headers = bearer(person["key"])
    assert_error(client.post("/trials/convert", headers=headers, json={"plan_id": 2}), 400, "no trial to convert")
    client.post("/trials/start", headers=headers)
    assert_error(client.post("/trials/convert", headers=headers, json={"plan_id": 1}), 400, "not a paid plan")
    assert_error(client.post("/trials/convert", headers=headers, json={"plan_id": 99}), 404, "plan")
    assert_error(client.post("/trials/convert", headers=headers, json={}), 400, "plan_id")
    converted = client.post("/trials/convert", headers=headers, json={"plan_id": 2})
    assert converted.status_code == 200, converted.text
    body = converted.json()
    assert body["status"] == "pending_payment" and body["new_plan"] == "Pro" and body["plan_id"] == 2
    assert body["checkout_url"] == f"https://checkout.stripe.com/c/pay/{body['session_id']}#fid"
    user = users.require_user(person["user_id"])
    assert user.plan_id == 1 and user.subscription_status == "trial" and user.trial.status == "active"
    assert client.get("/user/plan", headers=headers).json()["plan"]["plan_name"] == "Free"


def test_a_conversion_racing_the_expiry_job_keeps_the_trial_credits(client, make_user, monkeypatch, billing_api, deliver):
    """The job reads an active, ended trial; the subscription is paid before the job writes: no credits are taken."""
    from gateway_common import trial_lifecycle
    from tests.payments import stripe_billing as sb

    person = make_user()
    headers = bearer(person["key"])
    client.post("/trials/start", headers=headers)
    client.post("/trials/convert", headers=headers, json={"plan_id": 2})
    customer = users.require_user(person["user_id"]).stripe_customer_id
    shift_clock(3 * 86400 + 1)
    real = trial_lifecycle.remaining_credits
    from gateway_common.timeutil import now_ts

    def remaining_then_pay(user):
        unspent = real(user)
        sub = sb.Subscription(person["user_id"], customer, "pro", start=int(now_ts()))
        assert deliver(sub.event("created", int(now_ts()))).json()["outcome"] == "plan_changed"
        return unspent

    monkeypatch.setattr(trial_lifecycle, "remaining_credits", remaining_then_pay)
    assert trial_lifecycle.expire_due() == []
    user = users.require_user(person["user_id"])
    assert user.trial.status == "converted" and user.plan_id == 2
    assert user.credits == Decimal("10.00")
    assert [e["entry_id"] for e in ledger.entries(person["user_id"])] == [f"trial:{person['user_id']}"]


def test_spent_trial_credits_are_not_taken_back_and_status_shows_the_rest(client, make_user):
    from tests.payments.test_balance_invariant import _use

    person = make_user()
    headers = bearer(person["key"])
    client.post("/trials/start", headers=headers)
    _use(person["user_id"], person["key_id"], person["key"], "1.25")
    _use(person["user_id"], person["key_id"], person["key"], "0.5")
    status = client.get("/trials/status", headers=headers).json()["trial"]
    assert status["remaining_credits"] == 8.25 and status["credits"] == 10.0
    shift_clock(3 * 86400 + 1)
    from gateway_common import trial_lifecycle

    assert trial_lifecycle.expire_due() == [person["user_id"]]
    expired = {e["entry_id"]: e["amount"] for e in ledger.entries(person["user_id"])}
    assert expired[f"trial:{person['user_id']}:expired"] == Decimal("-8.25")
    assert users.require_user(person["user_id"]).credits == Decimal("0.00")
    assert client.get("/trials/status", headers=headers).json()["trial"]["remaining_credits"] == 0.0


def test_an_ended_trial_gets_402_trial_ended_on_the_real_chat_route(client, make_user):
    person = make_user()
    headers = bearer(person["key"])
    client.post("/trials/start", headers=headers)
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    served = client.post("/v1/chat/completions", headers=headers, json=body)
    assert served.status_code == 200, served.text
    assert client.get("/trials/status", headers=headers).json()["trial"]["requests_used"] == 1
    before = users.require_user(person["user_id"])
    shift_clock(3 * 86400 + 1)
    refused = assert_error(client.post("/v1/chat/completions", headers=headers, json=body), 402, "free trial ended",
                           "/trials/convert")
    assert refused["error"]["code"] == "trial_ended"
    after = users.require_user(person["user_id"])
    assert after.credits == before.credits and after.reserved == 0  # nothing held or charged for the refusal


def test_paying_after_the_trial_ended_closes_it_at_once_and_the_purchase_is_usable(client, make_user, deliver):
    from tests.payments import stripe_fakes as sf

    person = make_user()
    headers = bearer(person["key"])
    client.post("/trials/start", headers=headers)
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    shift_clock(3 * 86400 + 1)
    assert_error(client.post("/v1/chat/completions", headers=headers, json=body), 402, "trial ended")
    pi = sf.new_pi()
    assert deliver(sf.event("payment_intent.succeeded", sf.payment_intent(person["user_id"], cents=2000, pi=pi))).json()[
        "outcome"] == "credited"
    user = users.require_user(person["user_id"])
    assert user.trial.status == "expired" and user.credits == Decimal("20.00")  # the unspent trial credits went
    served = client.post("/v1/chat/completions", headers=headers, json=body)
    assert served.status_code == 200, served.text


def test_accounts_on_a_paid_plan_cannot_start_a_trial(client, demo):
    admin = demo["admin"]  # Enterprise plan
    assert_error(client.post("/trials/start", headers=bearer(admin["key"])), 409, "free plan", "enterprise")
    user = users.require_user(admin["user_id"])
    assert user.trial is None and not [e for e in ledger.entries(admin["user_id"]) if e["entry_id"].startswith("trial:")]
