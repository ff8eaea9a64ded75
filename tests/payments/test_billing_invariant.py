"""The money invariant after a mixed run of subscriptions (events late, doubled, in parallel), credit purchases,
refunds, auto top-ups that succeed and fail, usage, and the scheduled job: every balance equals its ledger minus its
usage with nothing held, and every plan change has its audit entry and the Stripe event that caused it."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from gateway_common import billing, ledger, users
from gateway_common.timeutil import now_ts, shift_clock
from tests.helpers import assert_audit_chain_intact, audit_entries
from tests.payments import stripe_billing as sb
from tests.payments import stripe_fakes as sf
from tests.payments.test_autotopup import _settle, armed_user
from tests.payments.test_balance_invariant import _usage_cost
from tests.payments.test_subscriptions import _job, subscribe


def test_balances_match_ledgers_and_every_plan_change_has_its_audit_entry_and_event(client, make_user, billing_api,
                                                                                     deliver):
    subscribers = [make_user() for _ in range(4)]
    subs = [subscribe(client, deliver, p, "pro") for p in subscribers]
    t = int(now_ts())
    late: list[dict[str, Any]] = []
    for i, sub in enumerate(subs):
        if i % 2 == 0:  # upgrade, with the older state delivered again afterwards
            sub.slug = "enterprise"
            late.append(sub.event("updated", t + 10))
        if i == 1:  # past_due, then to Free through the grace period
            sub.status = "past_due"
            late.append(sub.event("updated", t + 20))
        if i == 3:  # canceled at period end
            sub.cancel_at_period_end = True
            late.append(sub.event("updated", t + 30))
    stale = [s.event("updated", t - 100) for s in subs]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(deliver, late + late))
    for event in stale:
        assert deliver(event).json()["outcome"] in ("stale", "duplicate")

    # credit purchases, a partial refund, auto top-ups (one succeeds through the webhook, one declines), usage
    buyers = [armed_user(client, deliver, make_user, credits="5.50") for _ in range(2)]
    for person in subscribers + buyers:
        pi = sf.new_pi()
        deliver(sf.event("payment_intent.succeeded", sf.payment_intent(person["user_id"], cents=3000, pi=pi)))
        if person is buyers[0]:
            deliver(sf.event("charge.refunded", sf.charge(pi, cents=3000, refunded_cents=1000)))
    for person in buyers:
        _settle(person, "31.00")  # 5.50 + 30.00 - 31.00 = 4.50: below the threshold of 5
    billing_api.decline = True
    _settle(buyers[1], "0.01")  # nothing new: crossing 1 is still pending
    first = billing_api.calls["payment_intents"][0]
    paid = sf.payment_intent(first["metadata[user_id]"], cents=2000, pi=sf.new_pi())
    paid["metadata"]["auto_topup"] = "1"
    assert deliver(sf.event("payment_intent.succeeded", paid)).json()["outcome"] == "credited"
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda p: _settle(p, "0.25"), subscribers * 2))

    shift_clock(4 * 86400)
    _job()
    shift_clock(sb.MONTH)
    canceled = subs[3]
    canceled.status, canceled.ended_at = "canceled", canceled.period_end
    deliver(canceled.event("deleted", int(now_ts())))
    _job()
    expected = {0: 3, 1: 1, 2: 3, 3: 1}
    assert {i: users.require_user(p["user_id"]).plan_id for i, p in enumerate(subscribers)} == expected

    # every balance is its ledger minus its usage, with nothing held
    for person in subscribers + buyers:
        user = users.require_user(person["user_id"])
        entries = sum((Decimal(str(e["amount"])) for e in ledger.entries(person["user_id"])), Decimal("0"))
        assert user.reserved == 0
        assert user.credits == entries - _usage_cost(person["user_id"]), person
    # every plan change has its audit entry, and every entry names a Stripe event that was processed
    changes = audit_entries("plan_changed")
    for entry in changes:
        event_id = entry["details"]["stripe_event_id"]
        assert billing.get(f"EVENT#{event_id}", "EVENT") is not None, entry
        assert billing.get(f"SUB#{entry['details']['subscription_id']}", "SUBSCRIPTION")["user_id"] == entry["user_id"]
    for person in subscribers:
        flow: Counter[int] = Counter()
        for entry in (c for c in changes if c["user_id"] == person["user_id"]):
            flow[int(entry["details"]["to_plan_id"])] += 1
            flow[int(entry["details"]["from_plan_id"])] -= 1
        final = users.require_user(person["user_id"]).plan_id
        # the changes chain from Free to the plan the account is on: none missing, none extra
        assert +flow == (Counter({final: 1}) if final != 1 else Counter()), (person, flow)
    assert len(billing_api.calls["payment_intents"]) == 2  # one per crossing; the pending one started no second
    assert_audit_chain_intact()  # subscriptions, invoices, top-ups: every entry chained
