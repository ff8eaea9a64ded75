"""The Stripe webhook: signed like Stripe, each event once, each payment credited once, refunds by delta (acceptance 1)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from gateway_common import audit, billing, db, ledger, users
from tests.helpers import assert_error
from tests.payments import stripe_fakes as sf


def _balance(user_id: str) -> Decimal:
    return users.require_user(user_id).credits


def _audit(action: str) -> list[dict]:
    return [i for i in db.table(audit.AUDIT).scan()["Items"] if i.get("action") == action]


def test_checkout_completed_credits_the_paid_amount_with_ledger_and_audit(deliver, demo):
    uid = demo["live"]["user_id"]
    pi = sf.new_pi()
    session = sf.checkout_session(uid, cents=5000, pi=pi)
    response = deliver(sf.event("checkout.session.completed", session, "evt_checkout_1"))
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "event_id": "evt_checkout_1", "type": "checkout.session.completed",
                               "outcome": "credited"}
    assert _balance(uid) == Decimal("75.00")
    entry = next(e for e in ledger.entries(uid) if e["entry_id"] == f"stripe:{pi}")
    assert entry["amount"] == Decimal("50.00") and entry["currency"] == "usd" and entry["reason"] == "stripe payment"
    assert entry["payment_intent_id"] == pi and entry["checkout_session_id"] == session["id"]
    assert entry["stripe_event_id"] == "evt_checkout_1" and entry["created_at"].endswith("Z")
    purchased = _audit("credits_purchased")
    assert len(purchased) == 1 and purchased[0]["resource_id"] == uid and purchased[0]["details"]["amount"] == "50.00"


def test_payment_intent_succeeded_credits_and_both_events_of_one_payment_credit_once(deliver, demo):
    uid = demo["live"]["user_id"]
    pi = sf.new_pi()
    first = deliver(sf.event("payment_intent.succeeded", sf.payment_intent(uid, cents=1999, pi=pi)))
    assert first.json()["outcome"] == "credited"
    assert _balance(uid) == Decimal("44.99")
    second = deliver(sf.event("checkout.session.completed", sf.checkout_session(uid, cents=1999, pi=pi)))
    assert second.status_code == 200 and second.json()["outcome"] == "already_credited"
    assert _balance(uid) == Decimal("44.99")
    assert [e["amount"] for e in ledger.entries(uid) if e["entry_id"].startswith("stripe:")] == [Decimal("19.99")]


def test_payment_failed_is_recorded_and_changes_no_balance(deliver, demo):
    uid = demo["live"]["user_id"]
    pi = sf.new_pi()
    response = deliver(sf.event("payment_intent.payment_failed",
                                sf.payment_intent(uid, cents=5000, pi=pi, status="requires_payment_method")))
    assert response.status_code == 200 and response.json()["outcome"] == "recorded"
    assert _balance(uid) == Decimal("25.00")
    assert len(ledger.entries(uid)) == 1  # the seed credit only
    payment = billing.get(f"PAYMENT#{pi}", "PAYMENT")
    assert payment["status"] == "failed" and payment["last_error"] == "Your card has insufficient funds."
    failed = _audit("payment_failed")
    assert len(failed) == 1 and failed[0]["details"]["decline_code"] == "insufficient_funds"
    # the customer retries with another card: the same PaymentIntent succeeds and is credited
    deliver(sf.event("payment_intent.succeeded", sf.payment_intent(uid, cents=5000, pi=pi)))
    assert _balance(uid) == Decimal("75.00") and billing.get(f"PAYMENT#{pi}", "PAYMENT")["status"] == "succeeded"


def test_refund_after_completed_checkout_removes_credits_by_delta(deliver, demo):
    uid = demo["live"]["user_id"]
    pi = sf.new_pi()
    deliver(sf.event("checkout.session.completed", sf.checkout_session(uid, cents=5000, pi=pi)))
    assert _balance(uid) == Decimal("75.00")
    partial = deliver(sf.event("charge.refunded", sf.charge(pi, cents=5000, refunded_cents=2000)))
    assert partial.json()["outcome"] == "refunded"
    assert _balance(uid) == Decimal("55.00")
    # a stale, earlier refund figure arriving late changes nothing
    assert deliver(sf.event("charge.refunded", sf.charge(pi, cents=5000, refunded_cents=1000))).json()["outcome"] == \
        "already_refunded"
    full = deliver(sf.event("charge.refunded", sf.charge(pi, cents=5000, refunded_cents=5000)))
    assert full.json()["outcome"] == "refunded"
    assert _balance(uid) == Decimal("25.00")
    refunds = sorted(e["amount"] for e in ledger.entries(uid) if e["entry_id"].startswith("refund:"))
    assert refunds == [Decimal("-30.00"), Decimal("-20.00")]
    assert billing.get(f"PAYMENT#{pi}", "PAYMENT")["status"] == "refunded"
    assert len(_audit("credits_refunded")) == 2


def test_refund_arriving_before_its_payment_is_applied_when_the_payment_is_credited(deliver, demo):
    uid = demo["live"]["user_id"]
    pi = sf.new_pi()
    early = deliver(sf.event("charge.refunded", sf.charge(pi, cents=5000, refunded_cents=2000)))
    assert early.status_code == 200 and early.json()["outcome"] == "refund_awaiting_payment"
    assert _balance(uid) == Decimal("25.00")
    assert not [e for e in ledger.entries(uid) if e["entry_id"].startswith("refund:")]
    # the payment's event (retried by Stripe) arrives afterwards: credited, and the kept refund removed at once
    assert deliver(sf.event("checkout.session.completed", sf.checkout_session(uid, cents=5000, pi=pi))).json()["outcome"] \
        == "credited"
    assert _balance(uid) == Decimal("55.00")
    assert deliver(sf.event("payment_intent.succeeded", sf.payment_intent(uid, cents=5000, pi=pi))).json()["outcome"] \
        == "already_credited"
    assert _balance(uid) == Decimal("55.00")
    assert [e["amount"] for e in ledger.entries(uid) if e["entry_id"].startswith("refund:")] == [Decimal("-20.00")]
    # the rest of the refund, then a stale replay of the early figure under a new event id
    deliver(sf.event("charge.refunded", sf.charge(pi, cents=5000, refunded_cents=5000)))
    assert deliver(sf.event("charge.refunded", sf.charge(pi, cents=5000, refunded_cents=2000))).json()["outcome"] == \
        "already_refunded"
    assert _balance(uid) == Decimal("25.00")


def test_refund_and_payment_racing_apply_the_refund_once(deliver, demo, monkeypatch):
    """The refund reads no payment, the payment is then credited and finds no kept refund, and only then does the
    refund keep its figure: its second look applies it."""
    from gw_stripe_webhook import logic

    uid = demo["live"]["user_id"]
    pi = sf.new_pi()
    real = logic._refund_to
    calls: list[str] = []

    def refund_to(*args, **kwargs):
        outcome = real(*args, **kwargs)
        if not calls:
            calls.append(outcome)
            assert deliver(sf.event("payment_intent.succeeded", sf.payment_intent(uid, cents=3000, pi=pi))).json()[
                "outcome"] == "credited"
        return outcome

    monkeypatch.setattr(logic, "_refund_to", refund_to)
    response = deliver(sf.event("charge.refunded", sf.charge(pi, cents=3000, refunded_cents=3000)))
    assert calls == ["awaiting_payment"]
    assert response.json()["outcome"] == "refunded"
    assert _balance(uid) == Decimal("25.00")
    assert [e["amount"] for e in ledger.entries(uid) if e["entry_id"].startswith("refund:")] == [Decimal("-30.00")]


def test_refund_of_a_payment_never_made_here_changes_no_balance(deliver, demo):
    response = deliver(sf.event("charge.refunded", sf.charge(sf.new_pi(), cents=5000, refunded_cents=5000)))
    assert response.status_code == 200 and response.json()["outcome"] == "refund_awaiting_payment"
    assert _balance(demo["live"]["user_id"]) == Decimal("25.00")


def test_bad_or_missing_signature_is_400_and_changes_nothing(client, deliver, demo):
    uid = demo["live"]["user_id"]
    evt = sf.event("checkout.session.completed", sf.checkout_session(uid, cents=5000, pi=sf.new_pi()))
    assert_error(deliver(evt, secret="whsec_someone_else"), 400, "invalid stripe signature")
    payload = sf.dumps(evt)
    assert_error(client.post("/api/stripe/webhook", content=payload), 400, "missing stripe-signature")
    tampered = payload.replace("5000", "500000")
    assert_error(client.post("/api/stripe/webhook", content=tampered, headers={"Stripe-Signature": sf.sign(payload)}),
                 400, "invalid stripe signature")
    stale = sf.sign(payload, timestamp=1_600_000_000)  # right secret, but replayed years later
    assert_error(client.post("/api/stripe/webhook", content=payload, headers={"Stripe-Signature": stale}), 400, "signature")
    assert_error(client.post("/api/stripe/webhook", content=payload, headers={"Stripe-Signature": "garbage"}), 400)
    assert _balance(uid) == Decimal("25.00")
    assert billing.get(f"EVENT#{evt['id']}", "EVENT") is None


def test_unknown_event_types_are_200_and_ignored(deliver, demo):
    evt = sf.event("customer.created", {"id": "cus_123", "object": "customer"})
    for _ in range(2):
        response = deliver(evt)
        assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    assert billing.get(f"EVENT#{evt['id']}", "EVENT") is None  # no marker kept for events never acted on
    assert _balance(demo["live"]["user_id"]) == Decimal("25.00")


def test_same_event_five_times_and_five_in_parallel_credit_once(deliver, demo):
    uid = demo["live"]["user_id"]
    evt = sf.event("payment_intent.succeeded", sf.payment_intent(uid, cents=1000, pi=sf.new_pi()))
    outcomes = [deliver(evt).json()["outcome"] for _ in range(5)]
    assert outcomes == ["credited", "duplicate", "duplicate", "duplicate", "duplicate"]
    assert _balance(uid) == Decimal("35.00")

    parallel = sf.event("checkout.session.completed", sf.checkout_session(uid, cents=700, pi=sf.new_pi()))
    with ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(lambda _: deliver(parallel), range(5)))
    assert all(r.status_code == 200 for r in responses)
    assert [r.json()["outcome"] for r in responses].count("credited") == 1
    assert _balance(uid) == Decimal("42.00")

    # five different events (both events of one payment, replayed) in parallel: still one credit
    pi = sf.new_pi()
    events = [sf.event("payment_intent.succeeded", sf.payment_intent(uid, cents=300, pi=pi)),
              sf.event("checkout.session.completed", sf.checkout_session(uid, cents=300, pi=pi))]
    with ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(lambda i: deliver(events[i % 2]), range(5)))
    assert [r.json()["outcome"] for r in responses].count("credited") == 1
    assert _balance(uid) == Decimal("45.00")
    assert sum(e["amount"] for e in ledger.entries(uid)) == Decimal("45.00")


def test_unpaid_checkout_waits_for_the_payment_and_unknown_users_are_ignored(deliver, demo):
    uid = demo["live"]["user_id"]
    pi = sf.new_pi()
    waiting = deliver(sf.event("checkout.session.completed", sf.checkout_session(uid, cents=900, pi=pi, payment_status="unpaid")))
    assert waiting.json()["outcome"] == "awaiting_payment" and _balance(uid) == Decimal("25.00")
    assert deliver(sf.event("payment_intent.succeeded", sf.payment_intent(uid, cents=900, pi=pi))).json()["outcome"] == "credited"
    assert _balance(uid) == Decimal("34.00")
    stranger = deliver(sf.event("payment_intent.succeeded", sf.payment_intent("user_nobody", cents=900, pi=sf.new_pi())))
    assert stranger.json()["outcome"] == "ignored_unknown_user"


def test_webhook_without_configured_secret_is_503(client, demo, monkeypatch):
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    evt = sf.event("payment_intent.succeeded", sf.payment_intent(demo["live"]["user_id"], cents=900, pi=sf.new_pi()))
    payload = sf.dumps(evt)
    audit_before = db.table(audit.AUDIT).scan()["Items"]
    assert_error(client.post("/api/stripe/webhook", content=payload, headers={"Stripe-Signature": sf.sign(payload)}),
                 503, "not configured", "STRIPE_WEBHOOK_SECRET")
    # a deployment misconfiguration: Stripe retries 5xx deliveries, so nothing may be written meanwhile
    assert billing.get(f"EVENT#{evt['id']}", "EVENT") is None
    assert billing.get(f"PAYMENT#{evt['data']['object']['id']}", "PAYMENT") is None
    assert _balance(demo["live"]["user_id"]) == Decimal("25.00")
    assert db.table(audit.AUDIT).scan()["Items"] == audit_before


def _discounted_payment_without_its_bonus(client, demo, make_user, deliver, monkeypatch):
    """A buyer with a 10 % coupon pays 45.00 for 50.00 credits; the delivery stops after the payment's credit (as a
    crash would), so the 5.00 discount is not credited yet."""
    from gw_stripe_webhook import logic
    from tests.helpers import bearer

    client.post("/coupons", headers=bearer(demo["admin"]["key"]),
                json={"code": "TENOFF", "discount_type": "percentage", "discount_value": 10})
    buyer = make_user()
    assert client.post("/coupons/apply", headers=bearer(buyer["key"]), json={"code": "TENOFF"}).status_code == 200
    pi = sf.new_pi()
    with monkeypatch.context() as m:
        m.setattr(logic, "_coupon_bonus", lambda *a, **k: None)
        deliver(sf.event("checkout.session.completed",
                         sf.checkout_session(buyer["user_id"], cents=4500, pi=pi, credits="50.00", coupon="TENOFF")))
    assert _balance(buyer["user_id"]) == Decimal("45.00")
    return buyer["user_id"], pi


def test_a_discount_credited_while_a_refund_is_computed_is_refunded_too(client, demo, make_user, deliver, monkeypatch):
    from gw_stripe_webhook import logic

    uid, pi = _discounted_payment_without_its_bonus(client, demo, make_user, deliver, monkeypatch)
    real_share, real_bonus = logic._share, logic._coupon_bonus
    landed: list[bool] = []

    def share(*args):
        if not landed:  # the refund has read the payment (no bonus yet); the discount lands before it writes
            landed.append(True)
            real_bonus(uid, pi, {"coupon_code": "TENOFF", "credits": "50.00"}, Decimal("45.00"), "usd")
        return real_share(*args)

    monkeypatch.setattr(logic, "_share", share)
    assert deliver(sf.event("charge.refunded", sf.charge(pi, cents=4500, refunded_cents=4500))).json()["outcome"] == "refunded"
    assert _balance(uid) == Decimal("0.00")  # 45.00 paid + 5.00 discount, all taken back
    assert sorted(e["amount"] for e in ledger.entries(uid)) == [Decimal("-50.00"), Decimal("5.00"), Decimal("45.00")]


def test_a_discount_is_not_credited_on_a_payment_already_refunded(client, demo, make_user, deliver, monkeypatch):
    from gateway_common import coupons

    uid, pi = _discounted_payment_without_its_bonus(client, demo, make_user, deliver, monkeypatch)
    deliver(sf.event("charge.refunded", sf.charge(pi, cents=4500, refunded_cents=4500)))
    assert _balance(uid) == Decimal("0.00")
    # the payment's other event (or Stripe's retry of the interrupted one) comes afterwards
    again = deliver(sf.event("payment_intent.succeeded",
                             sf.payment_intent(uid, cents=4500, pi=pi, credits="50.00", coupon="TENOFF")))
    assert again.json()["outcome"] == "already_credited"
    assert _balance(uid) == Decimal("0.00")
    assert coupons.pending_discount(uid).code == "TENOFF"  # still waiting for a purchase that is kept
