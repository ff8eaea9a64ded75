"""Acceptance 4: after mixed purchases, coupons, referrals, trials, refunds and usage (with replays and concurrency),
every user's balance equals the sum of their ledger entries minus their usage costs.

Usage is settled through the proxy's own metering path (``admission.admit`` + ``metering.settle``), which writes the
usage record and the balance change in one transaction.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from gateway_common import db, ledger, metering, trial_lifecycle, usage, users
from gateway_common.timeutil import iso_now, shift_clock
from tests.helpers import assert_audit_chain_intact, bearer, hold_credits
from tests.payments import stripe_fakes as sf


def _use(user_id: str, key_id: str, raw_key: str, cost: str) -> None:
    res = hold_credits(raw_key, Decimal("1.00"))
    record = usage.UsageRecord(user_id=user_id, request_id=res.reservation_id, key_id=key_id, plan_id=1,
                               endpoint=res.endpoint, model=res.model, provider="openai", prompt_tokens=100,
                               completion_tokens=50, total_tokens=150, cost=Decimal(cost), created_at=iso_now())
    assert metering.settle(res, record) is True
    assert metering.settle(res, record) is False  # a retried settle charges nothing


def _usage_cost(user_id: str) -> Decimal:
    items = db.table(usage.USAGE).query(KeyConditionExpression="user_id = :u", ExpressionAttributeValues={":u": user_id},
                                        ConsistentRead=True)
    assert "LastEvaluatedKey" not in items
    return sum((Decimal(str(i["cost"])) for i in items["Items"]), Decimal("0"))


def test_balance_is_ledger_minus_usage_after_a_mixed_run(client, demo, make_user, deliver):
    admin = bearer(demo["admin"]["key"])
    client.post("/coupons", headers=admin, json={"code": "FIX3", "discount_type": "fixed", "discount_value": 3, "max_uses": 3})
    client.post("/coupons", headers=admin, json={"code": "PCT25", "discount_type": "percentage", "discount_value": 25})
    people = [make_user() for _ in range(5)]
    referrer_code = client.get("/referrals/code", headers=bearer(people[0]["key"])).json()["referral_code"]

    def journey(i: int) -> None:
        p = people[i]
        uid, headers = p["user_id"], bearer(p["key"])
        client.post("/coupons/apply", headers=headers, json={"code": "FIX3"})  # 3 of 5 get it
        if i % 2 == 0:
            client.post("/trials/start", headers=headers)
        if i > 0:
            client.post("/referrals/apply", headers=headers, json={"referral_code": referrer_code})
        pi = sf.new_pi()
        if i == 3:  # percentage coupon: pays 30.00 for 40.00 credits
            client.post("/coupons/apply", headers=headers, json={"code": "PCT25"})
            events = [sf.event("checkout.session.completed",
                               sf.checkout_session(uid, cents=3000, pi=pi, credits="40.00", coupon="PCT25"))]
        else:
            events = [sf.event("payment_intent.succeeded", sf.payment_intent(uid, cents=2500 + i * 100, pi=pi)),
                      sf.event("checkout.session.completed", sf.checkout_session(uid, cents=2500 + i * 100, pi=pi))]
        for evt in events + events:  # every event delivered twice
            deliver(evt)
        for n in range(3):
            _use(uid, p["key_id"], p["key"], f"0.{i}{n}3457")
        if i in (1, 3):
            cents = 3000 if i == 3 else 2600
            deliver(sf.event("charge.refunded", sf.charge(pi, cents=cents, refunded_cents=cents // 3)))
            deliver(sf.event("charge.refunded", sf.charge(pi, cents=cents, refunded_cents=cents // 2)))

    with ThreadPoolExecutor(5) as pool:
        list(pool.map(journey, range(5)))

    # a refund delivered before its payment's event, then the payment (Stripe does not order deliveries)
    late_pi = sf.new_pi()
    deliver(sf.event("charge.refunded", sf.charge(late_pi, cents=1200, refunded_cents=700)))
    deliver(sf.event("payment_intent.succeeded", sf.payment_intent(people[4]["user_id"], cents=1200, pi=late_pi)))
    # the trials end and the job takes back what was not spent of them
    shift_clock(3 * 86400 + 60)
    assert len(trial_lifecycle.expire_due()) == 3

    checked = _check_every_user()
    assert checked == len(people) + len({d["user_id"] for d in demo.values()})
    assert_audit_chain_intact()  # coupons, trials, referrals, payments, refunds: every entry chained
    # the run did move money in every way it could
    reasons = {e["reason"] for p in people for e in ledger.entries(p["user_id"])}
    assert reasons >= {"stripe payment", "coupon", "coupon discount", "free trial credits", "referral reward (referred)",
                       "referral reward (referrer)", "stripe refund", "unused trial credits expired"}
    assert sum(1 for p in people if _usage_cost(p["user_id"]) > 0) == 5

    # the check itself fails when money moves without a ledger entry
    db.client().transact_write_items(TransactItems=[users.credit_update(people[2]["user_id"], Decimal("0.01"))])
    with pytest.raises(AssertionError):
        _check_every_user()


def _check_every_user() -> int:
    """balance == sum(ledger) - sum(usage costs) for every user in the table (email claim items are not users)."""
    checked = 0
    for item in db.table(users.USERS).scan(ConsistentRead=True)["Items"]:
        if "owner_id" in item:
            continue
        uid = item["user_id"]
        user = users.require_user(uid)
        ledger_sum = sum((Decimal(str(e["amount"])) for e in ledger.entries(uid)), Decimal("0"))
        assert user.reserved == 0, uid
        assert user.credits == ledger_sum - _usage_cost(uid), uid
        checked += 1
    return checked
