"""The reservation sweep finds holds of crashed invocations through the account items (the holds-due index), with no
write per request of its own: what the hold's name carries releases it exactly, whatever its mode or key, and an
account that may still hold money never leaves the index, whatever runs between the sweep's read and its write."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway_common import account_state, admission, apikeys, auth, db, metering, names, timeutil
from gateway_common.apikeys import KeyCaps
from gateway_common.usage import UsageRecord, recent_for_user

from .conftest import make_payer


def _admit(raw_key: str, request_id: str, amount: Decimal = Decimal("0.50"), mode: str = "credits",
           budget: Decimal | None = None) -> metering.Reservation:
    caller = auth.authenticate(f"Bearer {raw_key}", None)
    res = metering.Reservation(reservation_id=request_id, user_id=caller.user_id, key_id=caller.key.key_id,
                               plan_id=caller.plan.id, mode=mode, amount=amount, currency=caller.plan.currency,  # type: ignore[arg-type]
                               endpoint="/v1/chat/completions", model="openai/gpt-4o-mini", budget=budget)
    return admission.admit(caller, res, route="POST /v1/chat/completions").reservation


def _settle(res: metering.Reservation, cost: str = "0.01") -> bool:
    return metering.settle(res, UsageRecord(user_id=res.user_id, request_id=res.reservation_id, key_id=res.key_id,
                                            plan_id=res.plan_id, endpoint=res.endpoint, model=res.model,
                                            provider="openai", cost=Decimal(cost), created_at=res.created_at))


def _index(user_id: str) -> dict[str, Any]:
    item = account_state.read(user_id).item
    return {k: item.get(k) for k in (names.HOLDS_DUE, names.HOLDS_SHARD, names.HOLDS_OPEN)}


def _listed(user_id: str, now: float) -> bool:
    return user_id in metering.due_accounts(now, 1000)


def test_admission_writes_no_marker_and_lists_the_account_once(dynamo):
    payer = make_payer("busy", Decimal("10"))
    calls: list[tuple[str, str]] = []

    def count(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params.get("TableName", "")))

    db.client().meta.events.register("provide-client-params.dynamodb", count)
    try:
        first = _admit(payer["key"], "req_first")
        timeutil.shift_clock(30)
        second = _admit(payer["key"], "req_second")
    finally:
        db.client().meta.events.unregister("provide-client-params.dynamodb", count)
    writes = [c for c in calls if c[0] in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")]
    assert writes == [("UpdateItem", db.table_name(names.USERS))] * 2  # one write per admission: the account item
    index = _index(payer["user_id"])
    assert index == {names.HOLDS_DUE: first.deadline, names.HOLDS_SHARD: names.holds_shard(payer["user_id"]),
                     names.HOLDS_OPEN: 2}  # the first hold's deadline, kept by the second (never rewritten)
    assert second.deadline > first.deadline
    assert _settle(first) and _settle(second)
    assert _index(payer["user_id"])[names.HOLDS_OPEN] == 0


def test_a_crashed_hold_is_released_and_the_account_leaves_the_index(dynamo):
    payer = make_payer("crashed", Decimal("10"))
    crashed = _admit(payer["key"], "req_crashed")
    assert metering.sweep() == 0 and _listed(payer["user_id"], crashed.deadline)
    timeutil.shift_clock(metering.RESERVATION_SECONDS + 1)
    assert metering.sweep() == 1
    assert metering.open_holds(payer["user_id"]) == {}
    state = account_state.read(payer["user_id"])
    assert state.available() == Decimal("10") and state.item["reserved"] == 0
    assert _index(payer["user_id"]) == {names.HOLDS_DUE: None, names.HOLDS_SHARD: None, names.HOLDS_OPEN: 0}
    assert not _listed(payer["user_id"], timeutil.now_ts() + 10 * metering.RESERVATION_SECONDS)
    record = recent_for_user(payer["user_id"])[0]
    assert (record["request_id"], record["status"], record["cost"], record["key_id"]) == \
        ("req_crashed", "error", 0, payer["key_id"])
    assert metering.sweep() == 0  # nothing twice


def test_a_fresh_hold_moves_the_index_to_its_own_deadline(dynamo):
    payer = make_payer("mixed", Decimal("10"))
    _admit(payer["key"], "req_old")
    timeutil.shift_clock(600)
    fresh = _admit(payer["key"], "req_fresh")
    timeutil.shift_clock(metering.RESERVATION_SECONDS - 600 + 1)  # the old one is due, the fresh one is not
    assert metering.sweep() == 1
    assert metering.open_holds(payer["user_id"]) == {"req_fresh": Decimal("0.50")}
    assert _index(payer["user_id"])[names.HOLDS_DUE] == fresh.deadline
    assert metering.sweep() == 0  # not due again before its deadline
    timeutil.shift_clock(600)
    assert metering.sweep() == 1 and metering.open_holds(payer["user_id"]) == {}


def test_an_admission_between_the_sweeps_read_and_write_keeps_the_account_listed(dynamo, monkeypatch):
    """The sweep read the account with nothing open and would remove it from the index; a request admitted meanwhile
    found holds_due set and left it. The removal is conditioned on holds_open, so it is refused and the new hold stays
    findable: if its invocation crashes too, the next runs release it."""
    payer = make_payer("race", Decimal("10"))
    done = _admit(payer["key"], "req_done")
    assert _settle(done)
    read = metering._account
    late: list[metering.Reservation] = []

    def then_admit(user_id: str) -> dict[str, Any]:
        item = read(user_id)
        if not late:
            late.append(_admit(payer["key"], "req_late"))
        return item

    monkeypatch.setattr(metering, "_account", then_admit)
    metering.reschedule(payer["user_id"])
    monkeypatch.undo()
    assert metering.open_holds(payer["user_id"]) == {"req_late": Decimal("0.50")}
    assert _index(payer["user_id"])[names.HOLDS_DUE] == done.deadline  # not removed (and not later than req_late's)
    timeutil.shift_clock(metering.RESERVATION_SECONDS + 1)
    assert metering.sweep() == 1 and metering.open_holds(payer["user_id"]) == {}
    assert _index(payer["user_id"])[names.HOLDS_DUE] is None


def test_budget_and_key_holds_go_back_where_they_were_taken(dynamo):
    """An AI-included account's crashed hold goes back to the month's budget; a key with its own budget gets its own
    hold back too: the hold's name says the mode and the key, whatever the plan or key became since."""
    payer = make_payer("keyed", Decimal("10"))
    capped, _ = apikeys.create_gw_key(user_id=payer["user_id"], key_name="capped", environment="live",
                                      caps=KeyCaps(max_budget=Decimal("5")))
    res = _admit(capped, "req_keyed", Decimal("0.40"))
    assert res.key_counted
    key_id = auth.authenticate(f"Bearer {capped}", None).key.key_id
    key_item = db.table(names.API_KEYS).get_item(Key={"key_id": key_id})["Item"]
    used = names.budget_attribute(res.month, names.KEY_BUDGET_USED)
    assert key_item[used] == Decimal("0.40")
    budget = _admit(payer["key"], "req_budget", Decimal("0.30"), mode="budget", budget=Decimal("20"))
    month_used = names.budget_attribute(budget.month)
    assert account_state.read(payer["user_id"]).item[month_used] == Decimal("0.30")
    timeutil.shift_clock(metering.RESERVATION_SECONDS + 1)
    assert metering.sweep() == 2
    state = account_state.read(payer["user_id"])
    assert state.holds() == {} and state.item[month_used] == 0 and state.available() == Decimal("10")
    key_item = db.table(names.API_KEYS).get_item(Key={"key_id": key_id})["Item"]
    assert key_item[used] == 0 and not [k for k in key_item if k.startswith(names.HOLD)]


def test_holds_taken_before_holds_had_fields_are_still_released_through_their_markers(dynamo):
    """A hold named by its request id alone, with its reservation marker (as admission wrote them until now): the
    sweep still finds it through the marker and releases it exactly once."""
    payer = make_payer("legacy", Decimal("10"))
    res = _admit(payer["key"], "req_legacy")
    legacy = metering.Reservation(**{**res.__dict__, "legacy": True})
    db.table(names.USERS).update_item(
        Key={"user_id": payer["user_id"]}, UpdateExpression="REMOVE #new, holds_due, holds_shard, holds_open "
                                                            "SET #old = :amount",
        ExpressionAttributeNames={"#new": res.hold, "#old": legacy.hold}, ExpressionAttributeValues={":amount": res.amount})
    db.table(names.RESERVATIONS).put_item(Item=legacy.marker())
    timeutil.shift_clock(metering.RESERVATION_SECONDS + 1)
    assert metering.sweep() == 1 and metering.sweep() == 0
    assert metering.open_holds(payer["user_id"]) == {}
    assert account_state.read(payer["user_id"]).available() == Decimal("10")
