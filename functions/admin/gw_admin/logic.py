"""Admin rules: creating accounts and granting credits, each with its audit entry."""

from __future__ import annotations

from decimal import Decimal

from gateway_common import apikeys, audit, ledger, plans, users
from gateway_common.auth import Caller
from gateway_common.models import UserRecord


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
    admin: Caller, *, user_id: str, amount: Decimal, reason: str, operation_id: str, meta: dict[str, str | None]
) -> ledger.CreditResult:
    target = users.require_user(user_id)
    return ledger.credit(
        user_id=target.user_id, amount=amount, entry_id=f"admin:{operation_id}", reason=reason,
        currency=target.currency, actor_id=admin.user_id, details={"granted_by": admin.user_id}, **meta,
    )
