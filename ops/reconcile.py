"""Reconciliation: every account's money figures agree with its ledger, its usage records and its open holds.

For each user (metering.py's invariants, with the request's billing mode as gw_chat.logic.begin picks it):

    balance   available + reserved        == sum(ledger amounts) - sum(cost of usage charged to credits)
    reserved  reserved                    == sum(open holds taken from credits)
    budget    budget#used#<month>         == sum(cost of that month's usage charged to the budget)
                                             + that month's open holds taken from the budget   (AI-included plans)
    spend     spend#cost#<month>          == sum(cost of that month's usage records)
              spend#requests#<month>      == number of that month's usage records

An open hold's billing mode and month come from its name (``hold#<request id>#<taken at>#<mode>#<key id>``); a hold
the sweep cannot find is reported (its account's ``holds_due`` missing or later than the hold's deadline), as nobody
would ever release it. Holds named by their request id alone (taken before holds carried their fields) take the mode
and month from their reservation marker, and one without a marker is reported.

Against a deployed stack (read-only: Scan, Query and GetItem, consistent reads), with AWS credentials for its account:

    python -m ops.reconcile --stage prod [--region eu-west-1]

Against any DynamoDB endpoint (moto, `make run`'s): set DYNAMODB_ENDPOINT_URL and the table names stay the logical
ids (``--stage ''``). Prints one line per disagreement, then ``N users checked, M off, H open holds, P past
retention``; exits 1 when any user is off. Each user is read at one moment, so a request settling between two reads of
the same user can show as a one-off difference: run again before acting on it.

Usage records expire 400 days after they are written (usage.RETENTION_SECONDS). Months older than that are not
checked, and an account that spent in such a month is counted as "past retention" instead of having its balance
checked (its usage can no longer be summed).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from local import paths, template

paths.install()

from gateway_common import db, ledger, metering, names, plans, usage, users  # noqa: E402
from gateway_common.errors import NotFound  # noqa: E402
from gateway_common.settings import TABLE_ENV, get_settings  # noqa: E402
from gateway_common.timeutil import now_ts  # noqa: E402

ZERO = Decimal("0")
SPEND_COST = names.spend_attribute("cost", "")
SPEND_REQUESTS = names.spend_attribute("requests", "")
BUDGET_USED = names.budget_attribute("")


def use_stage(stage: str) -> None:
    """Point the gateway's data access at a stage's tables (the same variables the template sets)."""
    tables = template.tables()
    for logical_id, env_name in TABLE_ENV.items():
        os.environ[env_name] = tables[logical_id]["TableName"]["Sub"].replace("${Stage}", stage) if stage else logical_id
    os.environ["GATEWAY_ENV"] = "aws"
    get_settings.cache_clear()
    db.reset_clients()


@dataclass
class Report:
    checked: int = 0
    off: list[str] = field(default_factory=list)  # one line per disagreement
    off_users: set[str] = field(default_factory=set)
    open_holds: int = 0
    past_retention: int = 0

    def add(self, user_id: str, line: str) -> None:
        self.off.append(f"{user_id}: {line}")
        self.off_users.add(user_id)

    def summary(self) -> str:
        return (f"{self.checked} users checked, {len(self.off_users)} off, {self.open_holds} open holds, "
                f"{self.past_retention} past retention")


def _user_ids() -> Iterator[str]:
    kwargs: dict[str, Any] = {"ConsistentRead": True, "ProjectionExpression": "user_id, owner_id"}
    while True:
        page = db.table(users.USERS).scan(**kwargs)
        for item in page["Items"]:
            if "owner_id" not in item:  # email claim items share the table; they are not users
                yield str(item["user_id"])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def charged_to(record: dict[str, Any]) -> str:
    """Where a usage record's cost was taken from: "budget" or "credits" (as gw_chat.logic.begin chose it from the
    plan the request ran under; sandbox and zero-cost requests cost nothing, so either answer adds 0)."""
    plan = plans.get_plan(int(record["plan_id"]))
    return "budget" if plan.billing_mode == "ai_included" and plan.monthly_budget is not None else "credits"


def _month(created_at: str) -> str:
    return created_at[:4] + created_at[5:7]  # ISO "2026-12-03T…" -> the window id "202612"


def _horizon() -> str:
    """The oldest month whose usage records are all still there (none has reached its TTL)."""
    start = datetime.fromtimestamp(now_ts() - usage.RETENTION_SECONDS, tz=UTC)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return f"{year:04d}{month:02d}"


def _by_month(item: dict[str, Any], prefix: str) -> dict[str, Decimal]:
    return {name[len(prefix):]: Decimal(str(value)) for name, value in item.items() if name.startswith(prefix)}


def check_user(user_id: str, report: Report) -> None:
    item = db.table(users.USERS).get_item(Key={"user_id": user_id}, ConsistentRead=True).get("Item")
    if item is None:  # deleted since the scan
        return
    report.checked += 1
    horizon = _horizon()
    credit_usage = ZERO
    budget_usage: dict[str, Decimal] = defaultdict(Decimal)
    spent: dict[str, Decimal] = defaultdict(Decimal)
    requests: dict[str, int] = defaultdict(int)
    for record in db.query_items(usage.USAGE, KeyConditionExpression="user_id = :u",
                                 ExpressionAttributeValues={":u": user_id}, ConsistentRead=True):
        cost, month = Decimal(str(record.get("cost", 0))), _month(record["created_at"])
        try:
            mode = charged_to(record)
        except NotFound:
            report.add(user_id, f"usage record {record['request_id']} names plan {record['plan_id']}, which no longer "
                                "exists: its cost cannot be placed")
            continue
        if mode == "budget":
            budget_usage[month] += cost
        else:
            credit_usage += cost
        spent[month] += cost
        requests[month] += 1

    credit_holds = ZERO
    budget_holds: dict[str, Decimal] = defaultdict(Decimal)
    unplaced = False  # a hold without its marker: credits or budget, nobody can say, so neither is checked
    for name in item:
        hold = names.parse_hold(name)
        if hold is None:
            continue
        report.open_holds += 1
        amount = Decimal(str(item[name]))
        reservation = metering.Reservation.from_hold(item, name)
        if reservation is not None:  # named with its own fields: the sweep finds it through holds_due
            due = item.get(names.HOLDS_DUE)
            if due is None or due > reservation.deadline or names.HOLDS_SHARD not in item:
                report.add(user_id, f"hold {hold.request_id} of {amount} is not in the sweep's index (holds_due "
                                    f"{due}, its deadline {reservation.deadline}): the sweep will never release it")
        elif amount == 0:
            continue  # free requests hold nothing and wrote no marker
        else:  # named by its request id alone (taken before holds carried their fields): its marker says the rest
            marker = db.table(names.RESERVATIONS).get_item(Key={"reservation_id": hold.request_id}, ConsistentRead=True)
            if "Item" not in marker:
                report.add(user_id, f"hold {hold.request_id} of {amount} has no reservation marker: the sweep will "
                                    "never release it")
                unplaced = True
                continue
            reservation = metering.Reservation.from_marker(marker["Item"])
        if reservation.mode == "budget":
            budget_holds[reservation.month] += amount
        else:
            credit_holds += amount

    available, reserved = Decimal(str(item.get("available", 0))), Decimal(str(item.get("reserved", 0)))
    spend_months = _by_month(item, SPEND_COST)
    if any(month < horizon and cost for month, cost in spend_months.items()):
        report.past_retention += 1
    else:
        entries = sum((Decimal(str(e["amount"])) for e in ledger.entries(user_id)), ZERO)
        expected = entries - credit_usage
        if available + reserved != expected:
            report.add(user_id, f"balance {available + reserved} (available {available}, reserved {reserved}) != "
                                f"ledger - usage {expected} (off by {available + reserved - expected})")
    if not unplaced and reserved != credit_holds:
        report.add(user_id, f"reserved {reserved} != open credit holds {credit_holds} (off by {reserved - credit_holds})")
    used = _by_month(item, BUDGET_USED)
    for month in sorted(set(used) | set(budget_usage) | set(budget_holds)):
        if month < horizon or unplaced:
            continue
        expected = budget_usage.get(month, ZERO) + budget_holds.get(month, ZERO)
        if used.get(month, ZERO) != expected:
            report.add(user_id, f"budget used in {month} {used.get(month, ZERO)} != usage {budget_usage.get(month, ZERO)}"
                                f" + open holds {budget_holds.get(month, ZERO)} (off by {used.get(month, ZERO) - expected})")
    counted = {month: int(n) for month, n in _by_month(item, SPEND_REQUESTS).items()}
    for month in sorted(set(spend_months) | set(spent) | set(counted)):
        if month < horizon:
            continue
        if spend_months.get(month, ZERO) != spent.get(month, ZERO) or counted.get(month, 0) != requests.get(month, 0):
            report.add(user_id, f"spend in {month}: {spend_months.get(month, ZERO)} over {counted.get(month, 0)} "
                                f"requests != usage records {spent.get(month, ZERO)} over {requests.get(month, 0)}")


def reconcile() -> Report:
    report = Report()
    for user_id in _user_ids():
        check_user(user_id, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev", help="the stack's Stage parameter ('' for logical table names)")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or "us-east-1")
    args = parser.parse_args(argv)
    os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = args.region
    use_stage(args.stage)
    report = reconcile()
    for line in report.off:
        print(line)
    print(report.summary())
    return 1 if report.off_users else 0


if __name__ == "__main__":
    sys.exit(main())
