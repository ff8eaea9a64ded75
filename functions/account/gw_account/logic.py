"""Account rules: key lifecycle (with audit entries), balances, the caller's plan period."""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway_common import apikeys, audit, users
from gateway_common.auth import Caller
from gateway_common.errors import BadRequest, Forbidden
from gateway_common.models import ApiKeyRecord
from gateway_common.timeutil import parse_iso, utcnow

MAX_KEYS_PER_USER = 50


def _within_caller_scopes(caller: Caller, requested: dict[str, list[str]]) -> None:
    """A key cannot mint a key with more power than it has itself."""
    for access, resources in requested.items():
        mine = caller.key.scope_permissions.get(access, [])
        if "*" in mine:
            continue
        wider = [r for r in resources if r not in mine]
        if wider:
            raise Forbidden(f"This key cannot grant '{access}' on {wider}: it does not hold that permission itself")


def create_key(
    caller: Caller, *, key_name: str, environment: str, scopes: dict[str, list[str]], meta: dict[str, str | None]
) -> tuple[str, ApiKeyRecord]:
    _within_caller_scopes(caller, scopes)
    if len(apikeys.list_user_keys(caller.user_id)) >= MAX_KEYS_PER_USER:
        raise BadRequest(f"A user can hold at most {MAX_KEYS_PER_USER} keys: delete one first")
    raw, record = apikeys.create_gw_key(
        user_id=caller.user_id, key_name=key_name, environment=environment, scope_permissions=scopes
    )
    audit.record(
        user_id=caller.user_id,
        action="api_key_created",
        resource_type="api_key",
        resource_id=record.key_id,
        details={"key_name": key_name, "environment": environment, "scopes": scopes, "by_key": caller.key.key_id},
        **meta,
    )
    return raw, record


def update_key(
    caller: Caller, key_id: str, *, key_name: str | None, is_active: bool | None, meta: dict[str, str | None]
) -> ApiKeyRecord:
    if key_name is None and is_active is None:
        raise BadRequest("Nothing to update: send 'key_name' and/or 'is_active'")
    record = apikeys.update_key(caller.user_id, key_id, key_name=key_name, is_active=is_active)
    changes = {k: v for k, v in (("key_name", key_name), ("is_active", is_active)) if v is not None}
    audit.record(
        user_id=caller.user_id, action="api_key_updated", resource_type="api_key", resource_id=key_id,
        details={"changes": changes, "by_key": caller.key.key_id}, **meta,
    )
    return record


def delete_key(caller: Caller, key_id: str, *, meta: dict[str, str | None]) -> None:
    apikeys.delete_key(caller.user_id, key_id)
    audit.record(
        user_id=caller.user_id, action="api_key_deleted", resource_type="api_key", resource_id=key_id,
        details={"by_key": caller.key.key_id}, **meta,
    )


def current_period(started_at: str) -> tuple[datetime, datetime]:
    """The monthly billing period (30 days, anchored at the plan's start) that contains now."""
    start = parse_iso(started_at)
    now = utcnow()
    length = timedelta(days=30)
    periods = max(int((now - start) / length), 0)
    period_start = start + periods * length
    return period_start, period_start + length


def fresh_user(caller: Caller) -> users.UserRecord:
    """Balances change with every request: read the user, not the key cache."""
    return users.require_user(caller.user_id)



