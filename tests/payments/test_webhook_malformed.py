"""Signed but malformed Stripe events: 400, nothing stored, and the log says why (issue 16: 9 of 70 deliveries 500'd)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gateway_common import audit, billing, db, ledger, users
from tests.helpers import assert_error
from tests.payments import stripe_billing as sb
from tests.payments import stripe_fakes as sf

TABLES = (audit.AUDIT, billing.BILLING, ledger.LEDGER, users.USERS)


def _snapshot() -> dict[str, Any]:
    return {name: db.table(name).scan(ConsistentRead=True)["Items"] for name in TABLES}


def _session(uid: str) -> dict[str, Any]:
    return sf.checkout_session(uid, cents=5000, pi=sf.new_pi())


def _intent(uid: str) -> dict[str, Any]:
    return sf.payment_intent(uid, cents=5000, pi=sf.new_pi())


def _without(obj: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != name}


CASES = [
    ("payment_intent.succeeded", lambda uid: None, "null"),
    ("payment_intent.succeeded", lambda uid: [_intent(uid)], "list"),
    ("checkout.session.completed", lambda uid: "cs_test_123", "str"),
    ("payment_intent.succeeded", lambda uid: _without(_intent(uid), "id"), "no valid id"),
    ("charge.refunded", lambda uid: _without(sf.charge(sf.new_pi(), cents=100, refunded_cents=100), "id"), "no valid id"),
    ("checkout.session.completed", lambda uid: _without(_session(uid), "id"), "no valid id"),
    ("payment_intent.succeeded", lambda uid: {**_intent(uid), "metadata": ["user_id", uid]}, "metadata"),
    ("checkout.session.completed", lambda uid: {**_session(uid), "metadata": "user_id=" + uid}, "metadata"),
    ("payment_intent.succeeded", lambda uid: {**_intent(uid), "amount_received": 10**30, "amount": 10**30}, "amount"),
    ("checkout.session.completed", lambda uid: {**_session(uid), "amount_total": 10**30}, "amount_total"),
    ("charge.refunded", lambda uid: sf.charge(sf.new_pi(), cents=100, refunded_cents=10**30), "amount_refunded"),
    ("payment_intent.succeeded", lambda uid: {**_intent(uid), "amount_received": "5000"}, "amount_received"),
    ("payment_intent.succeeded", lambda uid: {**_intent(uid), "object": "charge"}, "payment_intent object"),
    ("customer.subscription.updated", lambda uid: {**sb.Subscription(uid, "cus_x1", "pro", start=1).object(),
                                                   "items": {"data": []}}, "no items"),
    ("customer.subscription.updated", lambda uid: {**sb.Subscription(uid, "cus_x1", "pro", start=1).object(),
                                                   "status": None}, "status"),
    ("invoice.paid", lambda uid: {"object": "invoice", "customer": "cus_x1", "amount_paid": 100}, "no valid id"),
]


@pytest.mark.parametrize(("kind", "make", "fragment"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_signed_malformed_event_is_400_stores_nothing_and_logs_why(deliver, demo, caplog, kind, make, fragment):
    uid = demo["live"]["user_id"]
    before = _snapshot()
    event = sf.event(kind, {})
    event["data"]["object"] = make(uid)
    with caplog.at_level(logging.WARNING):
        refused = assert_error(deliver(event), 400, fragment)
    logged = [r for r in caplog.records if r.getMessage() == "malformed stripe event refused"]
    assert len(logged) == 1 and logged[0].event_id == event["id"] and fragment.lower() in logged[0].reason.lower()
    assert _snapshot() == before  # not even the event marker: a fixed delivery is processed normally
    assert refused["status_code"] == 400


def test_an_event_whose_created_or_data_is_wrong_is_400(deliver, demo):
    uid = demo["live"]["user_id"]
    event = sf.event("payment_intent.succeeded", _intent(uid))
    assert_error(deliver({**event, "created": "yesterday"}), 400, "created")
    assert_error(deliver({**event, "data": "nothing"}), 400, "data")
    assert_error(deliver({**event, "id": {"nested": 1}}), 400, "event id")
    assert deliver(event).json()["outcome"] == "credited"  # the same event, well-formed, is processed


ODD_VALUES = [None, [], {}, "x", "", 10**30, -1, True, 1.5, "1e999999", {"id": 7}, ["a"], "NaN"]


def _valid_objects(uid: str, customer: str) -> dict[str, dict[str, Any]]:
    sub = sb.Subscription(uid, customer, "pro", start=1_700_000_000)
    return {
        "checkout.session.completed": _session(uid),
        "payment_intent.succeeded": _intent(uid),
        "payment_intent.payment_failed": sf.payment_intent(uid, cents=500, pi=sf.new_pi(),
                                                           status="requires_payment_method"),
        "charge.refunded": sf.charge(sf.new_pi(), cents=500, refunded_cents=100),
        "customer.subscription.updated": sub.object(),
        "invoice.paid": sb.invoice(sub, paid=True, created=1_700_000_000),
        "setup_intent.succeeded": sb.setup_intent(uid, customer, "pm_1" + "x" * 20),
    }


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        obj = obj[step]
    obj[path[-1]] = value


def test_signed_events_with_any_field_replaced_never_500(deliver, demo):
    """A bounded, seeded fuzz: one field at any depth of a real-shaped object replaced by an odd value. Every answer
    is a 200 (processed or ignored) or a 400 (refused), never a 500."""
    import copy
    import random

    uid = demo["live"]["user_id"]
    rng = random.Random(16)
    statuses = []
    for kind, valid in _valid_objects(uid, "cus_fuzz1").items():
        paths = _paths(valid)
        for path in rng.sample(paths, min(12, len(paths))):
            obj = copy.deepcopy(valid)
            _set(obj, path, rng.choice(ODD_VALUES))
            response = deliver(sf.event(kind, obj))
            statuses.append(response.status_code)
            assert response.status_code in (200, 400), (kind, path, response.text)
    assert statuses.count(400) >= 10 and statuses.count(200) >= 10  # both kinds of answer were exercised
