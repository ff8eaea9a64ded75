"""Admin corrections of metered usage: a refund or a re-price is a new usage record, never an edit of the original.

What it keeps true:
- the original usage record is never changed. The correction is a usage record of its own (``kind="correction"``,
  ``corrects`` = the original request id, ``cost`` = the signed change, negative for a refund, no request counted), so
  it reaches the rollups through the stream like any record, and the history shows it beside the original;
- ``available + reserved = credits added - sum(usage.cost)`` (metering's invariant) still holds: the same transaction
  moves the money where settle put the request's money (the account item: the month's spend, and ``available`` on
  prepaid plans or the month's budget used on AI-included ones; the key's own month figures when it keeps them);
- a request's net cost (original + corrections) never goes below 0: a refund returns at most what was charged. The
  net is kept in a counter item written in the same transaction, conditioned on the net this correction was computed
  from, so two corrections at once cannot both spend the same amount;
- exactly once per correction id (the Idempotency-Key): a marker item keyed by it is put conditionally in the same
  transaction (the record's own key holds its time, so a later retry would not collide there); a retry changes nothing;
- audited: the audit entry is part of the same transaction, chained (audit.transact).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from botocore.exceptions import ClientError

from gateway_common import audit, db, names, plans, ratelimit, usage
from gateway_common.auth import Caller
from gateway_common.errors import BadRequest, Conflict, NotFound
from gateway_common.expressions import Update
from gateway_common.timeutil import iso_now, parse_iso

COUNTERS = "CountersTable"
Kind = Literal["refund", "reprice"]


@dataclass(frozen=True)
class CorrectionResult:
    applied: bool
    correction_id: str
    request_id: str
    cost_change: Decimal
    net_cost: Decimal
    currency: str


def _n(value: Decimal) -> dict[str, str]:
    return {"N": format(value, "f")}


def find_original(user_id: str, request_id: str) -> dict[str, Any]:
    """The user's usage record of ``request_id`` (a Query of that user's partition, never a scan)."""
    pages = db.query_items(usage.USAGE, KeyConditionExpression="user_id = :u", FilterExpression="request_id = :r",
                           ExpressionAttributeValues={":u": user_id, ":r": request_id})
    for item in pages:
        if item.get("kind", "request") == "request":
            return item
    raise NotFound(f"No usage record '{request_id}' for user '{user_id}'")


def net_counter_id(request_id: str) -> str:
    return f"correction#{request_id}"


def _net_cost(original: dict[str, Any]) -> tuple[Decimal, bool]:
    """The request's net cost now, and whether it has been corrected before (its counter exists)."""
    item = db.table(COUNTERS).get_item(Key={"counter_id": net_counter_id(original["request_id"])},
                                       ConsistentRead=True).get("Item")
    if item is None:
        return Decimal(str(original.get("cost") or "0")), False
    return Decimal(str(item["net_cost"])), True


def _change(kind: Kind, net: Decimal, amount: Decimal | None) -> Decimal:
    if kind == "refund":
        refund = net if amount is None else amount
        if refund <= 0:
            raise BadRequest("Nothing to refund: this request's net cost is 0" if net <= 0 else "amount must be above 0")
        if refund > net:
            raise BadRequest(f"A refund returns at most the request's net cost ({net}); amount was {refund}")
        return -refund
    if amount is None:
        raise BadRequest("A reprice needs new_cost: the request's correct total cost")
    change = amount - net
    if change == 0:
        raise BadRequest(f"The request already costs {net}: nothing to change")
    return change


def correct(admin: Caller, *, user_id: str, request_id: str, kind: Kind, amount: Decimal | None, reason: str,
            correction_id: str | None, meta: dict[str, str | None]) -> CorrectionResult:
    """Apply a refund (``amount`` to give back, default all of the net cost) or a re-price (``amount`` = new total)."""
    original = find_original(user_id, request_id)
    if original.get("sandbox"):
        raise BadRequest("Sandbox requests are never charged: there is nothing to correct")
    correction_id = correction_id or "corr_" + secrets.token_hex(12)
    net, corrected_before = _net_cost(original)
    change = _change(kind, net, amount)
    currency = str(original.get("currency") or "usd")
    record = usage.UsageRecord(
        user_id=user_id, request_id=correction_id, key_id=original["key_id"], plan_id=int(original["plan_id"]),
        endpoint=original["endpoint"], model=original["model"], provider=original["provider"],
        route=original.get("route", ""), cost=change, currency=currency, status="success", http_status=200,
        kind="correction", corrects=request_id, reason=reason, created_at=iso_now(),
    )
    marker = {"Put": {  # the correction id, once: a retry seconds later would otherwise be a new record (new sk)
        "TableName": db.table_name(COUNTERS),
        "Item": {"counter_id": {"S": f"correction_id#{correction_id}"}, "request_id": {"S": request_id}},
        "ConditionExpression": "attribute_not_exists(counter_id)",
    }}
    items = [marker, usage.transaction_put(record), _net_update(request_id, net, change, corrected_before),
             *_money_updates(original, change),
             audit.transaction_put(user_id=admin.user_id, action="usage_corrected", resource_type="usage",
                                   resource_id=request_id,
                                   details={"kind": kind, "correction_id": correction_id, "user_id": user_id,
                                            "cost_change": str(change), "net_cost": str(net + change),
                                            "currency": currency, "reason": reason}, **meta)]
    try:
        audit.transact(items)  # chains the audit entry (same transaction)
    except ClientError as exc:
        reasons = db.cancellation_reasons(exc)
        if reasons and reasons[0] == "ConditionalCheckFailed":  # this correction id was applied already
            return CorrectionResult(False, correction_id, request_id, Decimal("0"), _net_cost(original)[0], currency)
        if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
            raise Conflict("Another correction of this request was applied at the same time: look again and retry") from None
        if len(reasons) > 3 and "ConditionalCheckFailed" in reasons[3:-1]:
            raise Conflict("The user's credits cannot cover this re-price") from None
        raise
    return CorrectionResult(True, correction_id, request_id, change, net + change, currency)


def _net_update(request_id: str, net: Decimal, change: Decimal, corrected_before: bool) -> dict[str, Any]:
    return {"Update": {
        "TableName": db.table_name(COUNTERS),
        "Key": {"counter_id": {"S": net_counter_id(request_id)}},
        "UpdateExpression": "SET net_cost = :new",
        "ConditionExpression": "net_cost = :seen" if corrected_before else "attribute_not_exists(net_cost)",
        "ExpressionAttributeValues": {":new": _n(net + change), **({":seen": _n(net)} if corrected_before else {})},
    }}


def _money_updates(original: dict[str, Any], change: Decimal) -> list[dict[str, Any]]:
    """Where the request's money went at settle (metering.settle), the change goes now: the account item's month spend
    and its credits (prepaid) or month budget (AI-included), and the key's own month figures when it keeps them."""
    plan = plans.get_plan(str(original["plan_id"]))
    month = ratelimit.window_bounds("month", parse_iso(str(original["created_at"])).timestamp())[0]
    account = Update()
    account.require("attribute_exists(user_id)")
    account.add(names.spend_attribute("cost", month), change)
    if plan.billing_mode == "ai_included" and plan.monthly_budget is not None:
        account.add(names.budget_attribute(month), change)
    else:
        account.add("available", -change)
        if change > 0:
            account.require(f"{account.name('available')} >= {account.value(change)}")
    updates = [{"Update": account.low_level(db.table_name(names.USERS), {"user_id": original["user_id"]})}]
    key_item = db.table(names.API_KEYS).get_item(Key={"key_id": original["key_id"]}).get("Item") or {}
    spent, budget_used = names.spend_attribute("cost", month), names.budget_attribute(month, names.KEY_BUDGET_USED)
    if spent in key_item or budget_used in key_item:  # the key counts its own caps: keep them true too
        key = Update()
        key.require("attribute_exists(key_id)")
        for attribute in (spent, budget_used):
            if attribute in key_item:
                key.add(attribute, change)
        updates.append({"Update": key.low_level(db.table_name(names.API_KEYS), {"key_id": original["key_id"]})})
    return updates
