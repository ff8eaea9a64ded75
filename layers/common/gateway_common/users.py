"""Data access for users (UsersTable)."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from . import db
from .dynamo_items import to_item
from .dynamo_types import serialize_item
from .errors import Conflict, NotFound
from .models import RateLimitOverride, UserRecord
from .timeutil import iso_now

USERS = "UsersTable"


def new_user_id() -> str:
    return "user_" + secrets.token_hex(8)


def get_user(user_id: str, *, consistent: bool = True) -> UserRecord | None:
    item = db.table(USERS).get_item(Key={"user_id": user_id}, ConsistentRead=consistent).get("Item")
    if item is None or "owner_id" in item:  # an email claim item is not a user
        return None
    return UserRecord.model_validate(item)


def require_user(user_id: str) -> UserRecord:
    user = get_user(user_id)
    if user is None or user.status == "deleted":
        raise NotFound(f"User '{user_id}' does not exist")
    return user


def create_user(
    *,
    username: str,
    email: str | None,
    plan_id: int,
    role: str = "user",
    auth_method: str = "email",
    currency: str = "usd",
    user_id: str | None = None,
    subscription_status: str = "active",
    extra: dict[str, Any] | None = None,
) -> UserRecord:
    """Create a user with zero credits (credits arrive through the ledger, so every credit has an entry).

    An email is unique: the user is written together with an ``email#<address>`` claim item in one transaction, so
    two concurrent sign-ups with one address cannot both succeed (a GSI read first would race).
    """
    now = iso_now()
    record = UserRecord(
        user_id=user_id or new_user_id(),
        username=username,
        email=email.lower() if email else None,
        role=role,  # type: ignore[arg-type]
        plan_id=plan_id,
        currency=currency,
        auth_method=auth_method,
        subscription_status=subscription_status,
        plan_started_at=now,
        created_at=now,
        role_assigned_at=now,
        extra=extra or {},
    )
    name = db.table_name(USERS)
    items: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": name,
                "Item": serialize_item(to_item(record.model_dump())),
                "ConditionExpression": "attribute_not_exists(user_id)",
            }
        }
    ]
    if record.email:
        items.append(
            {
                "Put": {
                    "TableName": name,
                    "Item": {"user_id": {"S": email_claim_id(record.email)}, "owner_id": {"S": record.user_id}},
                    "ConditionExpression": "attribute_not_exists(user_id)",
                }
            }
        )
    try:
        db.client().transact_write_items(TransactItems=items)
    except ClientError as exc:
        reasons = db.cancellation_reasons(exc)
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            raise Conflict(f"A user with email '{record.email}' already exists") from None
        if reasons and reasons[0] == "ConditionalCheckFailed":
            raise Conflict(f"User '{record.user_id}' already exists") from None
        raise
    return record


def email_claim_id(email: str) -> str:
    return "email#" + email.lower()


def find_by_email(email: str) -> UserRecord | None:
    """The user owning an email, through its claim item (a consistent read, unlike an index)."""
    claim = db.table(USERS).get_item(Key={"user_id": email_claim_id(email)}, ConsistentRead=True).get("Item")
    return get_user(claim["owner_id"]) if claim else None


def update_fields(user_id: str, fields: dict[str, Any]) -> None:
    """Set top-level attributes of an existing user; a None value removes the attribute. NotFound if no such user."""
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    sets = {f"#f{i}": value for i, value in enumerate(fields.values()) if value is not None}
    removes = [f"#f{i}" for i, value in enumerate(fields.values()) if value is None]
    clauses = []
    if sets:
        clauses.append("SET " + ", ".join(f"{n} = :{n[1:]}" for n in sets))
    if removes:
        clauses.append("REMOVE " + ", ".join(removes))
    kwargs: dict[str, Any] = {}
    if sets:
        kwargs["ExpressionAttributeValues"] = {f":{n[1:]}": to_item({"v": v})["v"] for n, v in sets.items()}
    try:
        db.table(USERS).update_item(
            Key={"user_id": user_id},
            UpdateExpression=" ".join(clauses),
            ConditionExpression="attribute_exists(user_id)",
            ExpressionAttributeNames=names,
            **kwargs,
        )
    except ClientError as exc:
        if db.is_conditional_failure(exc):
            raise NotFound(f"User '{user_id}' does not exist") from None
        raise


def set_rate_limit_override(user_id: str, override: RateLimitOverride | None) -> None:
    update_fields(user_id, {"rate_limit_override": override.model_dump() if override else None})


def credit_update(user_id: str, amount: Decimal) -> dict[str, Any]:
    """The transaction item that adds ``amount`` (may be negative) to a user's available credits."""
    return {
        "Update": {
            "TableName": db.table_name(USERS),
            "Key": {"user_id": {"S": user_id}},
            "UpdateExpression": "ADD available :a",
            "ConditionExpression": "attribute_exists(user_id)",
            "ExpressionAttributeValues": {":a": {"N": str(amount)}},
        }
    }
