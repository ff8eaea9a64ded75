"""IAM rules: roles (never zero admins), per-user rate-limit overrides, and audit-log reads.

Every change is one DynamoDB transaction holding the change and its audit entry, so a change is never without its
record. The audit entry's ``user_id`` is the acting admin; the target user and the reason are in ``details``.

Role and override changes reach the gateway's other functions through key auth, which re-reads the user at most
``KEY_CACHE_TTL_SECONDS`` (30 s in AWS, the key-cache bound) after the change.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from gateway_common import account_state, apikeys, audit, auth, plans, route_names, users
from gateway_common.auth import Caller
from gateway_common.dates import parse_date_param
from gateway_common.errors import BadRequest, Conflict, NotFound
from gateway_common.models import RateLimitOverride, UserRecord
from gateway_common.timeutil import iso, iso_now, utcnow

from . import dal
from .schemas import AuditChainBreak, AuditVerifyResponse

# What each role may do. Key scopes (scope_permissions) narrow a key further; they never widen its role.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    "user": ["api:read", "api:write", "keys:manage", "usage:read", "billing:write"],
    "support": ["api:read", "api:write", "keys:manage", "usage:read", "billing:write"],
    "admin": [
        "api:read", "api:write", "keys:manage", "usage:read", "billing:write",
        "admin:users", "admin:credits", "admin:roles", "admin:rate_limits", "admin:audit_logs", "admin:coupons",
        "admin:analytics",
    ],
}
RoleName = Literal["user", "admin", "support"]
ROLE_ORDER = ("admin", "support", "user")
WITNESS_ATTEMPTS = 5
AUDIT_DEFAULT_MONTHS = 12
AUDIT_MAX_MONTHS = 36  # widest unfiltered range (one Query per month)
AUDIT_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # before any entry


@dataclass(frozen=True)
class RoleChange:
    user_id: str
    old_role: str
    new_role: str
    updated_at: str
    changed: bool


def permissions(role: str) -> list[str]:
    return list(ROLE_PERMISSIONS.get(role, ROLE_PERMISSIONS["user"]))


# ---------------------------------------------------------------- roles

def change_role(admin: Caller, user_id: str, *, new_role: str, reason: str, meta: dict[str, str | None]) -> RoleChange:
    """Give ``user_id`` a new role. Demoting an admin needs another active admin, checked in the same transaction."""
    for _ in range(WITNESS_ATTEMPTS):
        target = users.require_user(user_id)
        now = iso_now()
        if target.role == new_role:
            return RoleChange(user_id, target.role, new_role, target.role_assigned_at or target.created_at, False)
        items = [
            dal.role_update(user_id, old_role=target.role, new_role=new_role, at=now),
            audit.transaction_put(
                user_id=admin.user_id, action="role_changed", resource_type="user", resource_id=user_id,
                details={"target_user_id": user_id, "old_role": target.role, "new_role": new_role, "reason": reason},
                **meta,
            ),
        ]
        if target.role == "admin":
            witness = _another_admin(user_id)
            if witness is None:
                raise Conflict("Cannot remove the last admin: promote another user to admin first")
            items.append(dal.still_admin(witness))
        try:
            dal.transact(items)
        except dal.TransactionRefused:
            continue  # the target's role or the witness changed meanwhile: read again and retry
        auth.clear_cache()
        return RoleChange(user_id, target.role, new_role, now, True)
    raise Conflict("The role changed concurrently several times: read it again and retry")


def _another_admin(excluded: str) -> str | None:
    for item in dal.users_with_role("admin"):
        if item["user_id"] != excluded and item.get("status", "active") == "active":
            return str(item["user_id"])
    return None


def role_view(user: UserRecord) -> dict[str, Any]:
    return {
        "user_id": user.user_id, "role": user.role, "permissions": permissions(user.role),
        "assigned_at": user.role_assigned_at or user.created_at,
    }


def list_roles(role: str | None, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    roles = [role] if role else list(ROLE_ORDER)
    total = sum(dal.count_with_role(r) for r in roles)
    rows: list[dict[str, Any]] = []
    skipped = 0
    for current in roles:
        for item in dal.users_with_role(current):
            if skipped < offset:
                skipped += 1
                continue
            rows.append({
                "user_id": item["user_id"], "email": item.get("email"), "username": item.get("username", ""),
                "role": item["role"], "status": item.get("status", "active"),
                "assigned_at": item.get("role_assigned_at") or item.get("created_at"),
            })
            if len(rows) >= limit:
                return rows, total
    return rows, total


# ---------------------------------------------------------------- rate limits

def limits_view(user_id: str) -> dict[str, Any]:
    user = users.require_user(user_id)
    plan = plans.get_plan(user.plan_id)
    plan_windows = plan.limits.windows()
    override = user.rate_limit_override
    effective = dict(plan_windows)
    if override is not None:
        for window, value in (("minute", override.requests_per_minute), ("hour", override.requests_per_hour),
                              ("day", override.requests_per_day)):
            if value is not None:
                effective[window] = value
    keys = apikeys.list_user_keys(user_id)
    usage = account_state.read(user_id).counts()  # the account's own counters: every key counts there
    return {
        "user_id": user_id,
        "plan_id": plan.id,
        "source": "override" if override is not None else "plan",
        "rate_limits": {
            "requests_per_minute": effective.get("minute"),
            "requests_per_hour": effective.get("hour"),
            "requests_per_day": effective.get("day"),
            "custom_limits": dict(override.custom_limits) if override else {},
        },
        "plan_limits": {
            "requests_per_minute": plan_windows.get("minute"),
            "requests_per_hour": plan_windows.get("hour"),
            "requests_per_day": plan_windows.get("day"),
            "requests_per_month": plan_windows.get("month"),
        },
        "override": override.model_dump() if override else None,
        "current_usage": {
            "requests_this_minute": usage["minute"],
            "requests_this_hour": usage["hour"],
            "requests_this_day": usage["day"],
        },
        "keys_counted": len(keys),
    }


def set_limits(admin: Caller, user_id: str, *, minute: int | None, hour: int | None, day: int | None,
               custom_limits: dict[str, int], reason: str, meta: dict[str, str | None],
               tokens_per_minute: int | None = None) -> RateLimitOverride:
    """Replace the user's override (fields left out fall back to the plan); applies to the account (all its keys).
    custom_limits names are resolved to routes first (the seed's short names too); an unknown name is a 400."""
    custom_limits = route_names.resolve_all(custom_limits)
    target = users.require_user(user_id)
    override = RateLimitOverride(
        requests_per_minute=minute, requests_per_hour=hour, requests_per_day=day, tokens_per_minute=tokens_per_minute,
        custom_limits=custom_limits,
        reason=reason, set_by=admin.user_id, set_at=iso_now(),
    )
    previous = target.rate_limit_override.model_dump() if target.rate_limit_override else None
    try:
        dal.transact([
            dal.override_update(user_id, override.model_dump()),
            audit.transaction_put(
                user_id=admin.user_id, action="rate_limits_set", resource_type="rate_limits", resource_id=user_id,
                details={"target_user_id": user_id, "reason": reason,
                         "limits": override.model_dump(exclude={"reason", "set_by", "set_at"}),
                         "previous": _limits_only(previous)},
                **meta,
            ),
        ])
    except dal.TransactionRefused:
        raise NotFound(f"User '{user_id}' does not exist") from None
    auth.clear_cache()
    return override


def remove_limits(admin: Caller, user_id: str, *, reason: str, meta: dict[str, str | None]) -> bool:
    """Remove the override (the plan's limits apply again). False when there was none to remove."""
    target = users.require_user(user_id)
    if target.rate_limit_override is None:
        return False
    try:
        dal.transact([
            dal.override_update(user_id, None),
            audit.transaction_put(
                user_id=admin.user_id, action="rate_limits_removed", resource_type="rate_limits", resource_id=user_id,
                details={"target_user_id": user_id, "reason": reason,
                         "previous": _limits_only(target.rate_limit_override.model_dump())},
                **meta,
            ),
        ])
    except dal.TransactionRefused:
        return False  # removed concurrently (the other removal wrote its own entry)
    auth.clear_cache()
    return True


def _limits_only(override: dict[str, Any] | None) -> dict[str, Any] | None:
    if override is None:
        return None
    return {k: v for k, v in override.items() if k not in ("set_at",)}


# ---------------------------------------------------------------- audit log

def _bound(value: str | None, name: str, *, end: bool) -> datetime | None:
    return parse_date_param(value, name, end=end)


def _months(start: datetime, end: datetime) -> list[str]:
    """Month partitions from end back to start, newest first."""
    months = []
    year, month = end.year, end.month
    while (year, month) >= (start.year, start.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months


def _months_back(moment: datetime, count: int) -> datetime:
    year, month = moment.year, moment.month - count
    while month <= 0:
        year, month = year - 1, month + 12
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def audit_logs(*, user_id: str | None, action: str | None, resource_type: str | None, start_date: str | None,
               end_date: str | None, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    start = _bound(start_date, "start_date", end=False)
    end = _bound(end_date, "end_date", end=True)
    if start is not None and end is not None and start > end:
        raise BadRequest("query parameter 'start_date' is after 'end_date'")
    # no entry is newer than now or older than AUDIT_EPOCH: clamping keeps the month arithmetic in range
    end = min(max(end, AUDIT_EPOCH), utcnow()) if end is not None else utcnow()
    start = max(start, AUDIT_EPOCH) if start is not None else None
    filtered = any(v is not None for v in (user_id, action, resource_type))
    if not filtered and start is not None and _months_back(end, AUDIT_MAX_MONTHS) > start:
        # without a filter every month is one Query: bound them (a filter is one index Query over any range)
        raise BadRequest(
            f"query parameters 'start_date'..'end_date' span more than {AUDIT_MAX_MONTHS} months: narrow the range, or "
            "filter by user_id, action or resource_type"
        )
    # sk = "<timestamp>#<id>": '~' sorts after '#', so the upper bound includes every entry of the end second.
    sk_range = (iso(start) if start else "0", iso(end) + "~")
    months = _months(start or _months_back(end, AUDIT_DEFAULT_MONTHS), end) if not filtered else []
    queries = dal.audit_partitions(user_id=user_id, action=action, resource_type=resource_type, months=months,
                                   sk_range=sk_range)
    items = dal.audit_page(queries, limit=limit, offset=offset)
    return [_entry(i) for i in items], dal.audit_count(queries)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def verify_audit_chain(*, start_date: str | None, end_date: str | None) -> AuditVerifyResponse:
    """Walk the month partitions of the range, oldest first, and stop at the first broken link."""
    start = _bound(start_date, "start_date", end=False)
    end = _bound(end_date, "end_date", end=True)
    if start is not None and end is not None and start > end:
        raise BadRequest("query parameter 'start_date' is after 'end_date'")
    end = min(end, utcnow()) if end is not None else utcnow()
    start = start if start is not None else _months_back(end, AUDIT_DEFAULT_MONTHS)
    if _months_back(end, AUDIT_MAX_MONTHS) > start:
        raise BadRequest(f"query parameters 'start_date'..'end_date' span more than {AUDIT_MAX_MONTHS} months: "
                         "verify the range in parts")
    months = list(reversed(_months(start, end)))
    checked = 0
    for month in months:
        count, broken = audit.verify_partition(month)
        checked += count
        if broken is not None:
            return AuditVerifyResponse(verified=False, partitions=months, entries_checked=checked,
                                       first_broken=AuditChainBreak(**broken))
    return AuditVerifyResponse(verified=True, partitions=months, entries_checked=checked, first_broken=None)


def _entry(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"], "user_id": item["user_id"], "action": item["action"],
        "resource_type": item["resource_type"], "resource_id": item.get("resource_id", ""),
        "details": _plain(item.get("details", {})), "ip_address": item.get("ip_address") or None,
        "user_agent": item.get("user_agent") or None, "timestamp": item["timestamp"],
    }
