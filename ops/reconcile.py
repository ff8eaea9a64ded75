"""Reconciliation: every user's balance equals their ledger minus their usage (metering.py's invariant).

    available + reserved == sum(ledger amounts) - sum(usage costs)

Against a deployed stack (read-only: Scan and Query, consistent reads), with AWS credentials for its account:

    python -m ops.reconcile --stage prod [--region eu-west-1]

Against any DynamoDB endpoint (moto, `make run`'s): set DYNAMODB_ENDPOINT_URL and the table names stay the logical
ids (``--stage ''``). Prints one line per user whose balance is off, then a summary; exits 1 when any is off.
Open reservations are part of ``reserved`` until the sweep settles them, so run it when the sweep has run (or read
`open` in the summary: a user with open reservations may look off by exactly their hold).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from local import paths, template

paths.install()

from gateway_common import db, ledger, usage, users  # noqa: E402
from gateway_common.settings import TABLE_ENV, get_settings  # noqa: E402


def use_stage(stage: str) -> None:
    """Point the gateway's data access at a stage's tables (the same variables the template sets)."""
    tables = template.tables()
    for logical_id, env_name in TABLE_ENV.items():
        os.environ[env_name] = tables[logical_id]["TableName"]["Sub"].replace("${Stage}", stage) if stage else logical_id
    os.environ["GATEWAY_ENV"] = "aws"
    get_settings.cache_clear()
    db.reset_clients()


def _users() -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"ConsistentRead": True}
    while True:
        page = db.table(users.USERS).scan(**kwargs)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _usage_cost(user_id: str) -> Decimal:
    items = db.query_items(usage.USAGE, KeyConditionExpression="user_id = :u", ExpressionAttributeValues={":u": user_id},
                           ConsistentRead=True)
    return sum((Decimal(str(i.get("cost", 0))) for i in items), Decimal("0"))


def reconcile() -> tuple[int, list[str]]:
    """(users checked, one line per user whose balance is not ledger - usage)."""
    checked, off = 0, []
    for item in _users():
        if "owner_id" in item:  # email claim items share the table; they are not users
            continue
        user = users.require_user(item["user_id"])
        expected = sum((Decimal(str(e["amount"])) for e in ledger.entries(user.user_id)), Decimal("0"))
        expected -= _usage_cost(user.user_id)
        checked += 1
        if user.credits != expected:
            off.append(f"{user.user_id}: balance {user.credits} (available {user.available}, reserved {user.reserved})"
                       f" != ledger - usage {expected} (off by {user.credits - expected})")
    return checked, off


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev", help="the stack's Stage parameter ('' for logical table names)")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or "us-east-1")
    args = parser.parse_args(argv)
    os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = args.region
    use_stage(args.stage)
    checked, off = reconcile()
    for line in off:
        print(line)
    print(f"{checked} users checked, {len(off)} off")
    return 1 if off else 0


if __name__ == "__main__":
    sys.exit(main())
