"""Paid plans are Stripe subscriptions: nothing changes on request, everything follows Stripe's signed events."""

from __future__ import annotations

import random
import secrets
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from gateway_common import audit, billing, db, users
from gateway_common.timeutil import now_ts, shift_clock
from tests.helpers import assert_error, audit_entries, bearer
from tests.payments import stripe_billing as sb
from tests.payments import stripe_fakes as sf

DAY = 86400


def _audit(action: str, user_id: str | None = None) -> list[dict[str, Any]]:
    return audit_entries(action, user_id)


def _job() -> dict[str, Any]:
    from gw_trial_expiry.app import handler

    return handler({"source": "aws.events"}, None)


def _session_completed(person: dict[str, str], sub: sb.Subscription) -> dict[str, Any]:
    return {
        "id": "cs_test_" + secrets.token_hex(12), "object": "checkout.session", "mode": "subscription",
        "amount_subtotal": sb.AMOUNTS[sub.slug], "amount_total": sb.AMOUNTS[sub.slug], "currency": "usd",
        "customer": sub.customer, "client_reference_id": person["user_id"], "invoice": "in_1" + secrets.token_hex(11),
        "livemode": False, "metadata": {"user_id": person["user_id"], "plan_id": "2", "source": "subscriptions"},
        "payment_intent": None, "payment_status": "paid", "status": "complete", "subscription": sub.id,
        "success_url": "https://example.com/ok", "url": None, "created": int(now_ts()),
    }


def subscribe(client: Any, deliver: Any, person: dict[str, str], slug: str = "pro", *, at: int | None = None,
              path: str = "/subscriptions/checkout") -> sb.Subscription:
    """Buy a plan as a customer does: the checkout, then Stripe's events once the first invoice is paid."""
    plan_id = {"pro": 2, "enterprise": 3, "license_pro": 5}[slug]
    opened = client.post(path, headers=bearer(person["key"]), json={"plan_id": plan_id})
    assert opened.status_code == 200, opened.text
    customer = users.require_user(person["user_id"]).stripe_customer_id
    assert customer and customer.startswith("cus_")
    start = int(now_ts()) if at is None else at
    sub = sb.Subscription(person["user_id"], customer, slug, start=start, status="incomplete")
    assert deliver(sub.event("created", start)).json()["outcome"] in ("unchanged", "scheduled")
    sub.status = "active"
    assert deliver(sf.event("checkout.session.completed", _session_completed(person, sub))).status_code == 200
    assert deliver(sub.event("updated", start + 2)).json()["outcome"] == "plan_changed"
    return sub


def test_convert_or_checkout_without_payment_changes_nothing(client, make_user, billing_api, deliver):
    person = make_user()
    headers = bearer(person["key"])
    client.post("/trials/start", headers=headers)
    converted = client.post("/trials/convert", headers=headers, json={"plan_id": 3})
    assert converted.status_code == 200, converted.text
    body = converted.json()
    assert body["status"] == "pending_payment" and body["checkout_url"].startswith("https://checkout.stripe.com/")
    form = billing_api.calls["checkout"][0]
    assert form["mode"] == "subscription" and form["line_items[0][price]"] == sb.PRICES["enterprise"]
    assert form["subscription_data[metadata][user_id]"] == person["user_id"] and form["customer"].startswith("cus_")
    bought = client.post("/subscriptions/checkout", headers=headers, json={"plan_id": "pro"})
    assert bought.status_code == 200 and bought.json()["status"] == "pending_payment"
    user = users.require_user(person["user_id"])
    assert user.plan_id == 1 and user.trial.status == "active" and user.credits == Decimal("10.00")
    assert not _audit("plan_changed")
    # Stripe's own events before payment: the session completes unpaid, the subscription is incomplete
    sub = sb.Subscription(person["user_id"], user.stripe_customer_id, "enterprise", start=int(now_ts()),
                          status="incomplete")
    session = _session_completed(person, sub) | {"payment_status": "unpaid"}
    assert deliver(sf.event("checkout.session.completed", session)).json()["outcome"] == "awaiting_subscription"
    assert deliver(sub.event("created", int(now_ts()))).json()["outcome"] == "unchanged"
    sub.status = "incomplete_expired"  # never paid
    deliver(sub.event("updated", int(now_ts()) + 5))
    user = users.require_user(person["user_id"])
    assert user.plan_id == 1 and user.trial.status == "active" and not _audit("plan_changed")
    # free routes to a plan are gone: an unknown or free plan is refused, a plan without its Price id is a 503
    assert_error(client.post("/subscriptions/checkout", headers=headers, json={"plan_id": 1}), 400, "not a paid plan")
    assert_error(client.post("/trials/convert", headers=headers, json={"plan_id": 99}), 404, "plan")


def test_a_plan_without_a_price_id_cannot_be_bought_503_naming_the_setting(client, make_user, billing_api, monkeypatch):
    monkeypatch.delenv("STRIPE_PRICE_ENTERPRISE")
    person = make_user()
    refused = assert_error(client.post("/subscriptions/checkout", headers=bearer(person["key"]), json={"plan_id": 3}),
                           503, "STRIPE_PRICE_ENTERPRISE", "STRIPE_PRICE_ENTERPRISE_PARAM")
    assert refused["error"]["code"] == "plan_price_not_configured"
    assert not billing_api.calls  # Stripe was not asked anything


def test_paid_trial_conversion_keeps_the_trial_credits(client, make_user, billing_api, deliver):
    person = make_user()
    client.post("/trials/start", headers=bearer(person["key"]))
    subscribe(client, deliver, person, "enterprise", path="/trials/convert")
    user = users.require_user(person["user_id"])
    assert user.plan_id == 3 and user.subscription_status == "active" and user.trial.status == "converted"
    assert user.credits == Decimal("10.00")
    assert billing.get(f"USER#{person['user_id']}", "TRIAL") is None  # off the expiry schedule
    assert len(_audit("trial_converted", person["user_id"])) == 1
    shift_clock(4 * DAY)
    assert _job()["expired"] == 0 and users.require_user(person["user_id"]).credits == Decimal("10.00")


def test_full_lifecycle_paid_upgraded_downgraded_past_due_to_free_and_canceled_at_period_end(
        client, make_user, billing_api, deliver):
    person = make_user()
    uid, headers = person["user_id"], bearer(person["key"])
    t0 = int(now_ts())
    sub = subscribe(client, deliver, person, "pro", at=t0)
    assert users.require_user(uid).plan_id == 2

    # upgrade: asked of Stripe, applied only when the event with the paid new price arrives
    up = client.post("/subscriptions/checkout", headers=headers, json={"plan_id": 3})
    assert up.status_code == 200 and up.json()["status"] == "pending_payment"
    form = billing_api.calls["subscription_update"][-1]
    assert form["items[0][id]"] == sub.item_id and form["items[0][price]"] == sb.PRICES["enterprise"]
    assert form["proration_behavior"] == "always_invoice" and form["payment_behavior"] == "pending_if_incomplete"
    assert users.require_user(uid).plan_id == 2
    sub.slug = "enterprise"
    assert deliver(sub.event("updated", t0 + 100)).json()["outcome"] == "plan_changed"
    assert users.require_user(uid).plan_id == 3
    current = client.get("/subscriptions/current", headers=headers).json()
    assert current["plan_id"] == 3 and current["status"] == "active" and current["cancel_at_period_end"] is False
    assert current["next_invoice"] == {"amount": 29.99, "currency": "usd"}
    assert current["current_period_end"].endswith("Z") and current["pending_change"] is None

    # downgrade: Stripe bills the lower price from the next period; the plan paid for stays until then
    down = client.post("/subscriptions/checkout", headers=headers, json={"plan_id": 2})
    assert down.json()["status"] == "scheduled"
    assert billing_api.calls["subscription_update"][-1]["proration_behavior"] == "none"
    sub.slug = "pro"
    assert deliver(sub.event("updated", t0 + 200)).json()["outcome"] == "scheduled"
    assert users.require_user(uid).plan_id == 3
    pending = client.get("/subscriptions/current", headers=headers).json()["pending_change"]
    assert pending["plan_id"] == 2
    shift_clock(sb.MONTH + 10)  # the period ends: the job applies the downgrade
    assert _job()["plans_changed"] == 1 and users.require_user(uid).plan_id == 2
    sub.renew()
    deliver(sf.event("invoice.paid", sb.invoice(sub, paid=True, created=sub.period_start + 5)))
    assert deliver(sub.event("updated", sub.period_start + 6)).json()["outcome"] in ("unchanged", "scheduled")

    # past_due: the plan stays for the 3-day grace period, then Free
    t1 = int(now_ts())
    deliver(sf.event("invoice.payment_failed", sb.invoice(sub, paid=False, created=t1)))
    sub.status = "past_due"
    assert deliver(sub.event("updated", t1 + 1)).json()["outcome"] == "status_changed"
    shift_clock(2 * DAY)
    _job()
    user = users.require_user(uid)
    assert user.plan_id == 2 and user.subscription_status == "past_due"
    shift_clock(1 * DAY + 10)
    assert _job()["plans_changed"] == 1 and users.require_user(uid).plan_id == 1
    # the customer pays the open invoice: Stripe says active again, the plan comes back
    sub.status = "active"
    assert deliver(sub.event("updated", int(now_ts()))).json()["outcome"] == "plan_changed"
    assert users.require_user(uid).plan_id == 2

    # cancel at period end: the plan stays until Stripe ends the subscription
    canceled = client.post("/subscriptions/cancel", headers=headers)
    assert canceled.status_code == 200 and canceled.json()["cancel_at_period_end"] is True
    assert billing_api.calls["subscription_update"][-1]["cancel_at_period_end"] == "true"
    sub.cancel_at_period_end = True
    deliver(sub.event("updated", int(now_ts()) + 1))
    assert_error(client.post("/subscriptions/cancel", headers=headers), 409, "already")
    assert client.get("/subscriptions/current", headers=headers).json()["next_invoice"] is None
    resumed = client.post("/subscriptions/resume", headers=headers)
    assert resumed.status_code == 200 and billing_api.calls["subscription_update"][-1]["cancel_at_period_end"] == "false"
    assert users.require_user(uid).plan_id == 2
    shift_clock(sub.period_end - int(now_ts()) + 1)
    sub.status, sub.ended_at, sub.canceled_at = "canceled", sub.period_end, sub.period_end
    assert deliver(sub.event("deleted", int(now_ts()))).json()["outcome"] == "plan_changed"
    user = users.require_user(uid)
    assert user.plan_id == 1 and user.subscription_status == "canceled"
    reasons = sorted(a["details"]["reason"] for a in _audit("plan_changed", uid))  # one second: no order by sk
    assert reasons == sorted(["paid", "upgrade", "downgrade", "past_due_grace_ended", "paid", "subscription_canceled"])


def test_current_subscription_without_stripe_preview_still_answers(client, make_user, billing_api, deliver):
    person = make_user()
    subscribe(client, deliver, person, "pro")
    billing_api.preview_cents = None
    current = client.get("/subscriptions/current", headers=bearer(person["key"]))
    assert current.status_code == 200, current.text
    assert current.json()["plan_id"] == 2 and current.json()["next_invoice"] is None
    assert billing_api.calls["preview"][-1] == {"subscription": current.json()["subscription_id"]}


def test_canceled_mid_period_drops_to_free_only_at_the_period_end(client, make_user, billing_api, deliver):
    person = make_user()
    sub = subscribe(client, deliver, person, "pro")
    shift_clock(5 * DAY)
    sub.status, sub.canceled_at, sub.ended_at = "canceled", int(now_ts()), int(now_ts())
    assert deliver(sub.event("deleted", int(now_ts()))).json()["outcome"] == "status_changed"
    assert users.require_user(person["user_id"]).plan_id == 2  # paid until the period's end
    assert _job()["plans_changed"] == 0
    shift_clock(sb.MONTH)
    assert _job()["plans_changed"] == 1 and users.require_user(person["user_id"]).plan_id == 1


def _history(sub: sb.Subscription, t: int) -> list[dict[str, Any]]:
    """created -> active pro -> upgraded to enterprise -> past_due -> active again, one event each."""
    events = []
    for created, (status, slug) in enumerate([("incomplete", "pro"), ("active", "pro"), ("active", "enterprise"),
                                              ("past_due", "enterprise"), ("active", "enterprise")]):
        sub.status, sub.slug = status, slug
        events.append(sub.event("created" if created == 0 else "updated", t + 10 * created))
    return events


def test_out_of_order_and_duplicated_subscription_events_end_in_the_latest_state(client, make_user, billing_api, deliver):
    for seed in range(3):
        person = make_user()
        client.post("/subscriptions/checkout", headers=bearer(person["key"]), json={"plan_id": 2})
        customer = users.require_user(person["user_id"]).stripe_customer_id
        sub = sb.Subscription(person["user_id"], customer, "pro", start=int(now_ts()))
        events = _history(sub, int(now_ts()))
        shuffled = events * 2
        random.Random(seed).shuffle(shuffled)
        if seed == 2:
            shuffled = list(reversed(events)) + events  # the newest first, then everything late
        outcomes = [deliver(e).json()["outcome"] for e in shuffled]
        user = users.require_user(person["user_id"])
        assert user.plan_id == 3 and user.subscription_status == "active", (seed, outcomes)
        assert outcomes.count("duplicate") == len(events)  # each event id applied once
        assert billing.get(f"SUB#{sub.id}", "SUBSCRIPTION")["event_id"] == events[-1]["id"]
        if seed == 2:
            assert outcomes[1:5] == ["stale"] * 4  # a late update never overwrites a newer one
            assert [a["details"]["reason"] for a in _audit("plan_changed", person["user_id"])] == ["paid"]


def test_parallel_deliveries_of_every_event_end_in_the_latest_state(client, make_user, billing_api, deliver):
    person = make_user()
    client.post("/subscriptions/checkout", headers=bearer(person["key"]), json={"plan_id": 2})
    customer = users.require_user(person["user_id"]).stripe_customer_id
    sub = sb.Subscription(person["user_id"], customer, "pro", start=int(now_ts()))
    events = _history(sub, int(now_ts())) * 3
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda e: deliver(e).status_code, events))
    assert set(codes) == {200}
    user = users.require_user(person["user_id"])
    assert user.plan_id == 3 and user.subscription_status == "active"
    changes = _audit("plan_changed", person["user_id"])
    assert 1 <= len(changes) <= 2 and changes and all(c["details"]["to_plan_id"] in (2, 3) for c in changes)


def test_a_duplicate_delivery_writes_nothing(client, make_user, billing_api, deliver):
    person = make_user()
    sub = subscribe(client, deliver, person, "pro")
    sub.slug = "enterprise"
    event = sub.event("updated", int(now_ts()) + 50)
    assert deliver(event).json()["outcome"] == "plan_changed"
    before = {name: db.table(name).scan(ConsistentRead=True)["Items"] for name in
              (audit.AUDIT, billing.BILLING, users.USERS)}
    again = deliver(event)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert before == {name: db.table(name).scan(ConsistentRead=True)["Items"] for name in before}


def test_subscription_routes_need_a_subscription_and_a_key(client, make_user, billing_api):
    person = make_user()
    headers = bearer(person["key"])
    assert client.get("/subscriptions/current", headers=headers).json() == {
        "success": True, "plan_id": 1, "plan_name": "Free", "status": "none", "subscription_id": None,
        "current_period_end": None, "cancel_at_period_end": False, "next_invoice": None, "pending_change": None}
    assert_error(client.post("/subscriptions/cancel", headers=headers), 409, "no active subscription")
    assert_error(client.post("/subscriptions/resume", headers=headers), 409, "no active subscription")
    assert client.post("/subscriptions/checkout", json={"plan_id": 2}).status_code == 401
    assert_error(client.post("/subscriptions/checkout", headers=headers, json={"plan_id": 2, "success_url": "ftp://x"}),
                 400, "https")
