"""Fault injection at the botocore layer (``injector``): DynamoDB throttling (ProvisionedThroughputExceeded,
Throttling), a TransactionCanceled for a TransactionConflict, and a timeout after the write was applied, injected into
admission, settle, key creation, the Stripe webhook and the rollup job. Everything goes through the public surface
(HTTP, the job's run), so the suite holds whatever admission and settle look like inside.

For each: the client gets its answer or a 503 with Retry-After, never a 500; afterwards every balance equals its
ledger minus its usage, no reservation stays open past the sweep, no rollup record is counted twice or lost, and no
Stripe event is applied twice. A fault ``once`` is what botocore's standard retries absorb; ``persistent`` outlasts
them (every attempt fails).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway_common import apikeys, audit, db, ledger, metering, timeutil, usage, users
from gw_rollup.job import RollupJob
from tests.helpers import assert_error, bearer
from tests.payments import stripe_billing as sb
from tests.payments import stripe_fakes as sf
from tests.usage.factory import usage_record, write_records
from tests.usage.test_rollup_job import _assert_rollups_match

from .injector import injected, touches

PERSISTENT = 100  # more than botocore's attempts: the fault outlasts the retries


def _cases(*names: str) -> list[Any]:
    """``kind-once`` / ``kind-persistent`` names as parameters."""
    out = []
    for name in names:
        kind, _, how = name.rpartition("-")
        out.append(pytest.param(kind, 1 if how == "once" else PERSISTENT, id=name))
    return out


ALL = _cases("throughput-once", "throughput-persistent", "throttling-once", "throttling-persistent", "conflict-once",
             "conflict-persistent", "timeout_after_write-once")
SOME = _cases("throughput-persistent", "throttling-once", "timeout_after_write-once")
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 20}


@pytest.fixture(autouse=True)
def _sandbox_upstream(monkeypatch):
    """No provider key: locally the sandbox answers every model, charged at the model's price (the money flows)."""
    for name in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "PORTKEY_API_KEY",
                 "FEATHERLESS_API_KEY", "CHUTES_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def _payer(name: str, credits: str = "10.00") -> dict[str, Any]:
    user = users.create_user(username=name, email=f"{name}@example.com", plan_id=1)
    ledger.credit(user_id=user.user_id, amount=Decimal(credits), entry_id=f"seed:{name}", reason="test credits")
    raw, record = apikeys.create_gw_key(user_id=user.user_id, key_name=name, environment="live")
    return {"user_id": user.user_id, "key": raw, "key_id": record.key_id}


def _answer_is_fine(response: Any, kind: str, times: int) -> None:
    """Success, or a clean 503 the client can retry: never a 500. Throttling once and a lost answer are absorbed by
    botocore's retries (success); what outlasts them is a 503 with Retry-After."""
    assert response.status_code in (200, 201, 503), (response.status_code, response.text)
    if response.status_code == 503:
        assert_error(response, 503, "retry")
        assert response.headers["retry-after"] == "1"
    if kind in ("throughput", "throttling", "timeout_after_write") and times == 1:
        assert response.status_code in (200, 201), response.text
    if times == PERSISTENT:
        assert response.status_code == 503, response.text


def _usage_cost(user_id: str) -> Decimal:
    items = db.query_items(usage.USAGE, KeyConditionExpression="user_id = :u", ExpressionAttributeValues={":u": user_id},
                           ConsistentRead=True)
    return sum((Decimal(str(i["cost"])) for i in items), Decimal("0"))


def _money_holds(user_id: str) -> None:
    """After the sweep: nothing reserved, no open reservation, balance = ledger - usage."""
    timeutil.shift_clock(16 * 60)  # past every reservation's deadline: what a crashed invocation left is swept
    while metering.sweep(limit=100) == 100:
        pass
    user = users.require_user(user_id)
    ledger_sum = sum((Decimal(str(e["amount"])) for e in ledger.entries(user_id)), Decimal("0"))
    assert user.reserved == 0, user
    assert metering.open_holds(user_id) == {}
    assert user.credits == ledger_sum - _usage_cost(user_id), (user.credits, ledger_sum, _usage_cost(user_id))
    assert user.available == user.credits


def _settle(params: dict[str, Any]) -> bool:
    return touches(usage.USAGE)(params)


# ------------------------------------------------------------------ admission and settle (POST /v1/chat/completions)


# admission's writes, whatever their shape: the account item (UsersTable: limits, the hold, the sweep's index)
ADMISSION_WRITES = [("UpdateItem", "UsersTable")]


@pytest.mark.parametrize(("operation", "table"), ADMISSION_WRITES, ids=[t for _, t in ADMISSION_WRITES])
@pytest.mark.parametrize(("kind", "times", "stream"), [
    *[pytest.param(*case.values, False, id=f"json-{case.id}") for case in ALL],
    *[pytest.param(*case.values, True, id=f"sse-{case.id}") for case in SOME]])
def test_admission_faults(client, dynamo, kind, times, stream, operation, table):
    payer = _payer("admit")
    with injected() as faults:
        faults.add(operation, kind, times=times, when=touches(table))
        response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={**BODY, "stream": stream})
    assert faults.hit() >= 1
    _answer_is_fine(response, kind, times)
    if response.status_code == 200:
        again = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json=BODY)
        assert again.status_code == 200, again.text
    _money_holds(payer["user_id"])


@pytest.mark.parametrize(("kind", "times", "stream"), [
    *[pytest.param(*case.values, False, id=f"json-{case.id}") for case in ALL],
    *[pytest.param(*case.values, True, id=f"sse-{case.id}") for case in SOME]])
def test_settle_faults(client, dynamo, kind, times, stream):
    payer = _payer("settle")
    with injected() as faults:
        faults.add("TransactWriteItems", kind, times=times, when=_settle)
        response = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={**BODY, "stream": stream})
    assert faults.hit() >= 1
    if stream:  # the answer started before the settle: the stream itself is the client's answer
        assert response.status_code == 200 and "[DONE]" in response.text
    else:
        _answer_is_fine(response, kind, times)
    records = [r for r in usage.recent_for_user(payer["user_id"], limit=10)]
    assert len(records) <= 1  # settled at most once (or swept below)
    if stream and times == PERSISTENT:  # the settle never got through: the hold is left for the sweep, not lost
        assert records == [] and metering.open_holds(payer["user_id"]) != {}
    _money_holds(payer["user_id"])
    assert len(usage.recent_for_user(payer["user_id"], limit=10)) == 1  # exactly one record, by settle or by sweep


@pytest.mark.parametrize(("path", "body", "last_event"), [
    ("/v1/responses", {"model": "openai/gpt-4o-mini", "input": "Hello", "max_output_tokens": 20}, "response.completed"),
    ("/v1/messages", {"model": "openai/gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]},
     "message_stop"),
], ids=["responses", "messages"])
def test_a_settle_that_outlasts_the_retries_ends_the_other_streams_cleanly_too(client, dynamo, path, body, last_event):
    """Responses and Messages stream through the same relay: their last event still goes out, the hold waits for the
    sweep (an error record at cost 0), and the money holds."""
    payer = _payer("surfaces")
    with injected() as faults:
        faults.add("TransactWriteItems", "throttling", times=PERSISTENT, when=_settle)
        response = client.post(path, headers=bearer(payer["key"]), json={**body, "stream": True})
    assert faults.hit() >= 1
    assert response.status_code == 200 and f"event: {last_event}" in response.text, response.text[-600:]
    assert usage.recent_for_user(payer["user_id"], limit=10) == []
    _money_holds(payer["user_id"])
    assert [r["status"] for r in usage.recent_for_user(payer["user_id"], limit=10)] == ["error"]


# ------------------------------------------------------------------ key creation (POST /user/api-keys)


@pytest.mark.parametrize(("kind", "times"), ALL)
def test_key_creation_faults(client, dynamo, kind, times):
    payer = _payer("keys")
    before = {k.key_id for k in apikeys.list_user_keys(payer["user_id"])}
    with injected() as faults:
        faults.add("TransactWriteItems", kind, times=times, when=touches(apikeys.API_KEYS))
        response = client.post("/user/api-keys", headers=bearer(payer["key"]), json={"key_name": "faulty"})
    assert faults.hit() >= 1
    _answer_is_fine(response, kind, times)
    created = {k.key_id for k in apikeys.list_user_keys(payer["user_id"])} - before
    logged = [e for e in audit.partition_entries(timeutil.utcnow().strftime("%Y-%m"))
              if e["action"] == "api_key_created" and e["user_id"] == payer["user_id"]]
    if response.status_code in (200, 201):
        assert created == {response.json()["key_id"]} and len(logged) == 1
        assert client.get("/user/balance", headers=bearer(response.json()["api_key"])).status_code == 200
    else:  # refused whole: no key nobody was shown, no audit entry for a key that does not exist
        assert created == set() and logged == []
    assert audit.verify_partition(timeutil.utcnow().strftime("%Y-%m"))[1] is None


# ------------------------------------------------------------------ the Stripe webhook


@pytest.mark.parametrize(("kind", "times"), ALL)
def test_webhook_faults(deliver, dynamo, kind, times):
    payer = _payer("stripe")
    pi = sf.new_pi()
    event = sf.event("payment_intent.succeeded", sf.payment_intent(payer["user_id"], cents=2500, pi=pi))
    with injected() as faults:
        faults.add("TransactWriteItems", kind, times=times, when=touches(ledger.LEDGER))
        first = deliver(event)
    assert faults.hit() >= 1
    _answer_is_fine(first, kind, times)  # a 503 makes Stripe deliver again later
    retried = deliver(event)
    assert retried.status_code == 200, retried.text
    assert retried.json()["outcome"] in ("credited", "duplicate")
    assert deliver(event).json()["outcome"] == "duplicate"
    payments = [e for e in ledger.entries(payer["user_id"]) if e["entry_id"] == f"stripe:{pi}"]
    assert len(payments) == 1 and payments[0]["amount"] == Decimal("25.00")  # applied once
    assert users.require_user(payer["user_id"]).credits == Decimal("35.00")
    _money_holds(payer["user_id"])


@pytest.mark.parametrize(("kind", "times"), _cases("throughput-persistent", "conflict-persistent", "timeout_after_write-once"))
def test_subscription_event_faults(client, make_user, billing_api, deliver, kind, times):
    """The plan change a subscription event applies (issue 13's path: plan, subscription item, marker and audit entry
    in one transaction): refused whole or applied, and once, whatever Stripe redelivers."""
    from tests.payments.test_subscriptions import _session_completed

    person = make_user()
    assert client.post("/subscriptions/checkout", headers=bearer(person["key"]), json={"plan_id": 2}).status_code == 200
    user = users.require_user(person["user_id"])
    start = int(timeutil.now_ts())
    sub = sb.Subscription(person["user_id"], user.stripe_customer_id, "pro", start=start, status="incomplete")
    assert deliver(sub.event("created", start)).status_code == 200
    sub.status = "active"
    assert deliver(sf.event("checkout.session.completed", _session_completed(person, sub))).status_code == 200
    updated = sub.event("updated", start + 2)
    with injected() as faults:
        faults.add("TransactWriteItems", kind, times=times, when=touches("UsersTable"))
        first = deliver(updated)
    assert faults.hit() >= 1
    _answer_is_fine(first, kind, times)
    if first.status_code == 503:
        assert users.require_user(person["user_id"]).plan_id == 1  # nothing of it was applied
    again = deliver(updated)
    assert again.status_code == 200 and again.json()["outcome"] in ("plan_changed", "duplicate"), again.text
    assert deliver(updated).json()["outcome"] == "duplicate"
    assert users.require_user(person["user_id"]).plan_id == 2
    changes = [e for e in audit.partition_entries(timeutil.utcnow().strftime("%Y-%m"))
               if e["action"] == "plan_changed" and e["user_id"] == person["user_id"]]
    assert len(changes) == 1  # applied once
    assert audit.verify_partition(timeutil.utcnow().strftime("%Y-%m"))[1] is None
    _money_holds(person["user_id"])


@pytest.mark.parametrize("succeeded", [True, False], ids=["succeeded", "failed"])
@pytest.mark.parametrize(("kind", "times"), _cases("throttling-persistent", "timeout_after_write-once"))
def test_auto_top_up_result_faults(client, make_user, billing_api, deliver, kind, times, succeeded):
    """The auto top-up's PaymentIntent succeeds (or fails): the credit (or the failure record) commits, then recording
    the result on the rule fails (503). Stripe's retry must still record it, or the rule stays pending for good."""
    from tests.payments.test_autotopup import _settle, armed_user

    person = armed_user(client, deliver, make_user, credits="5.05")
    _settle(person, "0.10")  # below the 5.00 threshold: crossing 1, one off-session PaymentIntent
    assert len(billing_api.calls["payment_intents"]) == 1 and users.require_user(person["user_id"]).auto_topup.pending == 1
    pi = sf.new_pi()
    intent = sf.payment_intent(person["user_id"], cents=2000, pi=pi,
                               status="succeeded" if succeeded else "requires_payment_method")
    intent["metadata"] = {"user_id": person["user_id"], "credits": "20", "currency": "usd", "auto_topup": "1"}
    event = sf.event("payment_intent.succeeded" if succeeded else "payment_intent.payment_failed", intent)
    with injected() as faults:
        faults.add("UpdateItem", kind, times=times, when=touches("UsersTable"))
        first = deliver(event)
    assert faults.hit() >= 1
    _answer_is_fine(first, kind, times)
    again = deliver(event)
    assert again.status_code == 200, again.text
    rule = users.require_user(person["user_id"]).auto_topup
    assert rule.armed and rule.pending is None and rule.failures == (0 if succeeded else 1), rule
    credited = [e["amount"] for e in ledger.entries(person["user_id"]) if e["entry_id"] == f"stripe:{pi}"]
    assert credited == ([Decimal("20.00")] if succeeded else [])
    _money_holds(person["user_id"])


# ------------------------------------------------------------------ the rollup job


@pytest.mark.parametrize(("kind", "times"), _cases("throughput-persistent", "conflict-once", "conflict-persistent",
                                                   "timeout_after_write-once"))
def test_rollup_faults(dynamo, kind, times):
    records = [usage_record(f"user{i % 2}", f"key{i % 3}", cost=f"0.00{i % 9 + 1}") for i in range(20)]
    write_records(records)
    loops = iter(range(12))  # the job's time budget, in loops: a conflict that never passes ends the run, not the suite
    with injected() as faults:
        faults.add("TransactWriteItems", kind, times=times, when=touches("RollupsTable"))
        try:
            RollupJob(part_size=10, time_left=lambda: 60.0 if next(loops, None) is not None else 0.0).run()
        except Exception as exc:
            assert db.is_transient(exc), exc
    assert faults.hit() >= 1
    RollupJob(part_size=10).run()  # the next scheduled run
    _assert_rollups_match(records)  # every record counted exactly once
    assert RollupJob().run().counted == 0


# ------------------------------------------------------------------ the retry policy itself


def test_the_client_retries_in_standard_mode_with_bounded_attempts(dynamo):
    """One throttled attempt is retried (the caller never sees it); four are all the client makes, then it gives up."""
    retries = db.client().meta.config.retries
    assert retries["mode"] == "standard" and retries["total_max_attempts"] == 4
    user = users.create_user(username="retry", email="retry@example.com", plan_id=1)
    with injected() as faults:
        faults.add("TransactWriteItems", "throughput", times=PERSISTENT)
        with pytest.raises(Exception) as failure:
            ledger.credit(user_id=user.user_id, amount=Decimal("1"), entry_id="retry:1", reason="r")
    assert db.is_transient(failure.value) and faults.calls.count("TransactWriteItems") == 4
    assert users.require_user(user.user_id).credits == 0 and ledger.entries(user.user_id) == []
