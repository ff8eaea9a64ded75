"""Referrals: stable codes, the rules of applying, and the referrer paid once after the first payment (acceptance 3)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from gateway_common import ledger, timeutil, users
from tests.helpers import assert_error, bearer
from tests.payments import stripe_fakes as sf


def test_each_user_has_one_stable_code(client, demo, make_user):
    first = client.get("/referrals/code", headers=bearer(demo["live"]["key"])).json()
    again = client.get("/referrals/code", headers=bearer(demo["live"]["key"])).json()
    other = client.get("/referrals/code", headers=bearer(make_user()["key"])).json()
    assert first["referral_code"] == again["referral_code"] != other["referral_code"]
    assert len(first["referral_code"]) == 8
    assert first == {"success": True, "referral_code": first["referral_code"], "total_referrals": 0,
                     "total_rewards": 0.0, "pending_rewards": 0.0}


def test_apply_rules(client, demo, make_user):
    code = client.get("/referrals/code", headers=bearer(demo["live"]["key"])).json()["referral_code"]
    assert_error(client.post("/referrals/apply", headers=bearer(demo["live"]["key"]), json={"referral_code": code}),
                 400, "your own referral code")
    newcomer = make_user()
    assert_error(client.post("/referrals/apply", headers=bearer(newcomer["key"]), json={"referral_code": "ZZZZZZZZ"}),
                 404, "does not exist")
    applied = client.post("/referrals/apply", headers=bearer(newcomer["key"]), json={"referral_code": code.lower()})
    assert applied.status_code == 200, applied.text
    assert applied.json() == {"success": True, "message": "Referral code applied successfully", "reward_amount": 10.0,
                              "credits_added": 10.0, "new_balance": 10.0}
    assert_error(client.post("/referrals/apply", headers=bearer(newcomer["key"]), json={"referral_code": code}),
                 409, "already applied")
    assert users.require_user(newcomer["user_id"]).credits == Decimal("10.00")

    late = make_user()
    timeutil.shift_clock(8 * 86400)
    assert_error(client.post("/referrals/apply", headers=bearer(late["key"]), json={"referral_code": code}),
                 400, "within 7 days of sign-up")
    assert users.require_user(late["user_id"]).credits == Decimal("0")


def test_parallel_applications_by_one_user_reward_once(client, demo, make_user):
    code = client.get("/referrals/code", headers=bearer(demo["live"]["key"])).json()["referral_code"]
    newcomer = make_user()
    with ThreadPoolExecutor(6) as pool:
        codes = [r.status_code for r in pool.map(
            lambda _: client.post("/referrals/apply", headers=bearer(newcomer["key"]), json={"referral_code": code}), range(6))]
    assert codes.count(200) == 1 and set(codes) == {200, 409}
    assert users.require_user(newcomer["user_id"]).credits == Decimal("10.00")


def test_first_payment_completes_and_pays_the_referrer_once_even_when_replayed(client, demo, make_user, deliver):
    referrer = demo["live"]
    code = client.get("/referrals/code", headers=bearer(referrer["key"])).json()["referral_code"]
    newcomer = make_user("newcomer")
    client.post("/referrals/apply", headers=bearer(newcomer["key"]), json={"referral_code": code})

    pending = client.get("/referrals/history", headers=bearer(referrer["key"])).json()
    assert pending["total"] == 1 and pending["data"][0]["status"] == "pending"
    assert pending["data"][0]["referred_user_id"] == newcomer["user_id"]
    assert pending["data"][0]["referred_email"].startswith("n***@")
    assert users.require_user(referrer["user_id"]).credits == Decimal("25.00")

    pi = sf.new_pi()
    paid = sf.event("payment_intent.succeeded", sf.payment_intent(newcomer["user_id"], cents=2000, pi=pi))
    for _ in range(3):
        assert deliver(paid).status_code == 200
    deliver(sf.event("checkout.session.completed", sf.checkout_session(newcomer["user_id"], cents=2000, pi=pi)))
    with ThreadPoolExecutor(4) as pool:  # more deliveries of fresh events for the same payment, at once
        list(pool.map(lambda _: deliver(sf.event("payment_intent.succeeded",
                                                 sf.payment_intent(newcomer["user_id"], cents=2000, pi=pi))), range(4)))
    # a second payment is not a first payment: nothing more for the referrer
    deliver(sf.event("payment_intent.succeeded", sf.payment_intent(newcomer["user_id"], cents=500, pi=sf.new_pi())))

    assert users.require_user(referrer["user_id"]).credits == Decimal("35.00")
    rewards = [e for e in ledger.entries(referrer["user_id"]) if e["entry_id"].startswith("referral:")]
    assert len(rewards) == 1 and rewards[0]["amount"] == Decimal("10.00") and rewards[0]["entry_id"].endswith(":referrer")
    assert users.require_user(newcomer["user_id"]).credits == Decimal("35.00")  # 10 reward + 20 + 5 paid

    history = client.get("/referrals/history?status=paid", headers=bearer(referrer["key"])).json()
    assert history["total"] == 1
    row = history["data"][0]
    assert row["status"] == "paid" and row["completed_at"] and row["paid_at"] and row["reward_amount"] == 10.0
    assert client.get("/referrals/history?status=pending", headers=bearer(referrer["key"])).json()["total"] == 0
    stats = client.get("/referrals/stats", headers=bearer(referrer["key"])).json()
    assert stats["total_referrals"] == 1 and stats["active_referrals"] == 1 and stats["conversion_rate"] == 1.0
    assert stats["total_rewards"] == 10.0 and stats["pending_rewards"] == 0.0
    assert stats["recent_referrals"][0]["id"] == row["id"]
    assert_error(client.get("/referrals/history?status=bogus", headers=bearer(referrer["key"])), 400, "status")


def test_rewards_are_entered_in_each_account_currency(client, make_user, deliver):
    referrer, newcomer = make_user(currency="eur"), make_user()
    code = client.get("/referrals/code", headers=bearer(referrer["key"])).json()["referral_code"]
    client.post("/referrals/apply", headers=bearer(newcomer["key"]), json={"referral_code": code})
    deliver(sf.event("payment_intent.succeeded", sf.payment_intent(newcomer["user_id"], cents=1000, pi=sf.new_pi())))
    (reward,) = [e for e in ledger.entries(referrer["user_id"]) if e["entry_id"].endswith(":referrer")]
    assert reward["amount"] == Decimal("10.00") and reward["currency"] == "eur"
    (welcome,) = [e for e in ledger.entries(newcomer["user_id"]) if e["entry_id"].endswith(":referred")]
    assert welcome["currency"] == "usd"
