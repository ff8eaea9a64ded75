"""Admin rules: creating accounts and granting credits, each with its audit entry."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from decimal import Decimal

from gateway_common import apikeys, audit, db, ledger, names, plans, users
from gateway_common.auth import Caller
from gateway_common.dynamo_types import serialize_item
from gateway_common.errors import Conflict
from gateway_common.models import UserRecord
from gateway_common.timeutil import iso, now_ts


def create_account(
    admin: Caller,
    *,
    username: str,
    email: str,
    auth_method: str,
    environment: str,
    plan_ref: int | str | None,
    initial_credits: Decimal,
    meta: dict[str, str | None],
) -> tuple[UserRecord, str, Decimal]:
    plan = plans.get_plan(plan_ref) if plan_ref is not None else plans.default_plan()
    user = users.create_user(
        username=username, email=email, plan_id=plan.id, auth_method=auth_method, currency=plan.currency
    )
    raw, key = apikeys.create_gw_key(user_id=user.user_id, key_name="Default key", environment=environment)
    audit.record(
        user_id=admin.user_id, action="user_created", resource_type="user", resource_id=user.user_id,
        details={"username": username, "email": email, "plan_id": plan.id, "first_key": key.key_id}, **meta,
    )
    balance = Decimal("0")
    if initial_credits > 0:
        balance = ledger.credit(
            user_id=user.user_id, amount=initial_credits, entry_id=f"signup:{user.user_id}",
            reason="welcome credits", currency=plan.currency, actor_id=admin.user_id, **meta,
        ).balance
    return user, raw, balance


def add_credits(
    admin: Caller, *, user_id: str, amount: Decimal, reason: str, idempotency_key: str | None,
    meta: dict[str, str | None],
) -> ledger.CreditResult:
    """Grant credits once per Idempotency-Key, as Stripe does: the key belongs to the admin who sent it; a retry with
    the same request changes nothing, the same key with a different request is a 409 naming the first one's time.
    Without a key every call is its own grant (a request id is never an idempotency key: clients reuse them)."""
    target = users.require_user(user_id)
    operation_id = idempotency_key or "op_" + secrets.token_hex(12)
    fingerprint = hashlib.sha256(json.dumps([target.user_id, str(amount), reason]).encode()).hexdigest()
    claim_id = f"idem#admin#{admin.user_id}#{hashlib.sha256(operation_id.encode()).hexdigest()[:40]}"
    now = now_ts()
    claim = {"Put": {
        "TableName": db.table_name(names.COUNTERS),
        "Item": serialize_item({"counter_id": claim_id, "body_hash": fingerprint, "claimed_at": int(now),
                                "expires_at": int(now) + 30 * 86400}),
        "ConditionExpression": "attribute_not_exists(counter_id)",
    }}
    try:
        result = ledger.credit(
            user_id=target.user_id, amount=amount, entry_id=f"admin:{admin.user_id}:{operation_id}", reason=reason,
            currency=target.currency, actor_id=admin.user_id, details={"granted_by": admin.user_id}, **meta,
            extra_transact_items=[claim],
        )
    except ledger.ExtraItemRefused:
        result = ledger.CreditResult(applied=False, balance=Decimal(0))
    if result.applied:
        return result
    first = db.table(names.COUNTERS).get_item(Key={"counter_id": claim_id}, ConsistentRead=True).get("Item") or {}
    if first.get("body_hash") != fingerprint:
        at = iso(datetime.fromtimestamp(int(first.get("claimed_at", 0)), tz=UTC))
        raise Conflict(f"This Idempotency-Key was already used at {at} for a different grant (user, credits or "
                       "reason): use a new key for a new grant", code="idempotency_key_reused")
    return ledger.CreditResult(applied=False, balance=users.require_user(target.user_id).credits)
