"""Each of the webhook's two dedupe guards, tested on its own (a mutation pass removed each alone and no test failed):

1. the event-marker read: a redelivered event makes no DynamoDB write at all, not even one that a condition cancels;
2. the marker write's ``attribute_not_exists``: with the read raced past (a parallel delivery that read before the
   first one wrote its marker), the duplicate still changes nothing: marker, payment item, balance, ledger, audit.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from gateway_common import audit, billing, db, ledger, timeutil, users
from tests.payments import stripe_fakes as sf

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


@pytest.fixture
def dynamo_calls() -> Iterator[list[str]]:
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    events = db.client().meta.events
    events.register("before-call.dynamodb", record)
    yield calls
    events.unregister("before-call.dynamodb", record)


def _everything() -> list[dict[str, Any]]:
    """Every item of the tables a webhook may write, to compare before and after."""
    return [item for name in ("BillingTable", "LedgerTable", "UsersTable", audit.AUDIT)
            for item in db.table(name).scan()["Items"]]


@pytest.mark.parametrize("kind", ["payment_intent.succeeded", "payment_intent.payment_failed"])
def test_the_marker_read_alone_stops_a_redelivery_before_any_write(deliver, demo, dynamo_calls, kind):
    uid = demo["live"]["user_id"]
    failed = kind.endswith("failed")
    event = sf.event(kind, sf.payment_intent(uid, cents=1500, pi=sf.new_pi(),
                                             status="requires_payment_method" if failed else "succeeded"))
    assert deliver(event).json()["outcome"] == ("recorded" if failed else "credited")
    dynamo_calls.clear()
    again = deliver(event)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert not WRITES & set(dynamo_calls), dynamo_calls  # the read answered: nothing was even attempted
    assert "GetItem" in dynamo_calls


@pytest.mark.parametrize("kind", ["payment_intent.succeeded", "payment_intent.payment_failed"])
def test_the_marker_condition_alone_stops_a_delivery_that_raced_past_the_read(deliver, demo, monkeypatch, kind):
    uid = demo["live"]["user_id"]
    failed = kind.endswith("failed")
    event = sf.event(kind, sf.payment_intent(uid, cents=1500, pi=sf.new_pi(),
                                             status="requires_payment_method" if failed else "succeeded"))
    assert deliver(event).json()["outcome"] == ("recorded" if failed else "credited")
    before = _everything()
    balance = users.require_user(uid).credits
    real_get = billing.get
    # the second delivery read before the first wrote its marker: its read finds nothing
    monkeypatch.setattr(billing, "get", lambda pk, sk: None if pk.startswith("EVENT#") else real_get(pk, sk))
    timeutil.shift_clock(7)  # any rewrite of the marker would carry a new processed_at
    again = deliver(event)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert _everything() == before  # no item added, changed or removed
    assert users.require_user(uid).credits == balance == (Decimal("25.00") if failed else Decimal("40.00"))
    assert len(ledger.entries(uid)) == (1 if failed else 2)
