"""Data access of the IAM group: role reads through the role-members index, role and override changes written in one
transaction with their audit entry, and audit-log reads through the AuditTable's indexes (never a Scan)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase, Key
from botocore.exceptions import ClientError

from gateway_common import audit, db
from gateway_common.dynamo_items import to_item
from gateway_common.dynamo_types import serialize_item

USERS = "UsersTable"
ROLE_FIELDS = "user_id, email, username, #r, role_assigned_at, created_at, #s"  # role-members projects these
ROLE_INDEX = "role-members"


class TransactionRefused(Exception):
    """A transaction was cancelled; ``reasons`` holds one code per item ('None' where that item was fine)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(",".join(reasons))
        self.reasons = reasons


def _values(values: dict[str, Any]) -> dict[str, Any]:
    return serialize_item(to_item(values))


def transact(items: list[dict[str, Any]]) -> None:
    try:
        audit.transact(items)  # chains the audit entry (same transaction)
    except ClientError as exc:
        reasons = db.cancellation_reasons(exc)
        if reasons:
            raise TransactionRefused(reasons) from None
        raise


def role_update(user_id: str, *, old_role: str, new_role: str, at: str) -> dict[str, Any]:
    """Set the role, only if it is still ``old_role`` (a concurrent change makes this item fail)."""
    return {
        "Update": {
            "TableName": db.table_name(USERS),
            "Key": {"user_id": {"S": user_id}},
            "UpdateExpression": "SET #r = :new, role_assigned_at = :at",
            "ConditionExpression": "attribute_exists(user_id) AND #r = :old",
            "ExpressionAttributeNames": {"#r": "role"},
            "ExpressionAttributeValues": _values({":new": new_role, ":old": old_role, ":at": at}),
        }
    }


def still_admin(user_id: str) -> dict[str, Any]:
    """Holds only while ``user_id`` is an active admin: the witness that an admin remains after a demotion."""
    return {
        "ConditionCheck": {
            "TableName": db.table_name(USERS),
            "Key": {"user_id": {"S": user_id}},
            "ConditionExpression": "#r = :admin AND #s = :active",
            "ExpressionAttributeNames": {"#r": "role", "#s": "status"},
            "ExpressionAttributeValues": _values({":admin": "admin", ":active": "active"}),
        }
    }


def override_update(user_id: str, override: dict[str, Any] | None) -> dict[str, Any]:
    if override is None:
        return {
            "Update": {
                "TableName": db.table_name(USERS),
                "Key": {"user_id": {"S": user_id}},
                "UpdateExpression": "REMOVE rate_limit_override",
                "ConditionExpression": "attribute_exists(user_id) AND attribute_exists(rate_limit_override)",
            }
        }
    return {
        "Update": {
            "TableName": db.table_name(USERS),
            "Key": {"user_id": {"S": user_id}},
            "UpdateExpression": "SET rate_limit_override = :o",
            "ConditionExpression": "attribute_exists(user_id)",
            "ExpressionAttributeValues": _values({":o": override}),
        }
    }


def users_with_role(role: str) -> Iterator[dict[str, Any]]:
    """Users holding ``role``, oldest first, from the role-members index (eventually consistent)."""
    for page in db.query_pages(
        USERS, IndexName=ROLE_INDEX, KeyConditionExpression=Key("role").eq(role),
        ProjectionExpression=ROLE_FIELDS, ExpressionAttributeNames={"#r": "role", "#s": "status"},
    ):
        yield from page.get("Items", [])


def count_with_role(role: str) -> int:
    return sum(
        int(page.get("Count", 0))
        for page in db.query_pages(USERS, IndexName=ROLE_INDEX, KeyConditionExpression=Key("role").eq(role), Select="COUNT")
    )


# ---------------------------------------------------------------- audit log (read only: there is no write path here)

def _audit_query(index: str | None, partition: tuple[str, str], sk_range: tuple[str, str],
                 filters: dict[str, str]) -> dict[str, Any]:
    name, value = partition
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key(name).eq(value) & Key("sk").between(*sk_range),
        "ScanIndexForward": False,
    }
    if index:
        kwargs["IndexName"] = index
    condition: ConditionBase | None = None
    for field, wanted in filters.items():
        clause = Attr(field).eq(wanted)
        condition = clause if condition is None else condition & clause
    if condition is not None:
        kwargs["FilterExpression"] = condition
    return kwargs


def audit_partitions(
    *, user_id: str | None, action: str | None, resource_type: str | None, months: list[str], sk_range: tuple[str, str]
) -> list[dict[str, Any]]:
    """The Query arguments (newest first) that together cover the filters: one index query, or one per month."""
    given = {"user_id": user_id, "action": action, "resource_type": resource_type}
    for field, index in (("user_id", "by-user"), ("action", "by-action"), ("resource_type", "by-resource-type")):
        value = given[field]
        if value is not None:
            rest = {k: v for k, v in given.items() if v is not None and k != field}
            return [_audit_query(index, (field, value), sk_range, rest)]
    return [_audit_query(None, ("pk", month), sk_range, {}) for month in months]


def audit_page(queries: list[dict[str, Any]], *, limit: int, offset: int) -> list[dict[str, Any]]:
    wanted = offset + limit
    found: list[dict[str, Any]] = []
    for query in queries:
        for page in db.query_pages(audit.AUDIT, **query):
            found.extend(page.get("Items", []))
            if len(found) >= wanted:
                return found[offset:wanted]
    return found[offset:wanted]


def audit_count(queries: list[dict[str, Any]]) -> int:
    return sum(int(page.get("Count", 0)) for q in queries for page in db.query_pages(audit.AUDIT, **q, Select="COUNT"))
