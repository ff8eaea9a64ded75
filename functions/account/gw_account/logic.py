"""Account rules: key lifecycle (with audit entries), balances, the caller's plan period."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from gateway_common import account_state, apikeys, audit, db, keys, names, users
from gateway_common.auth import Caller
from gateway_common.errors import BadRequest, Forbidden
from gateway_common.keys import SANDBOX_ENVIRONMENTS
from gateway_common.models import ApiKeyRecord, KeyCaps
from gateway_common.timeutil import now_ts, parse_iso, utcnow

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


def _within_caller_caps(caller: Caller, caps: KeyCaps | None, expires_at: int | None, environment: str) -> None:
    """A key cannot mint (or widen) a key beyond its own caps: every cap it has, the new key has too, no looser; a
    sandbox key mints only sandbox keys; an expiring key mints keys that expire no later."""
    own = caller.key
    if own.is_sandbox and environment not in SANDBOX_ENVIRONMENTS:
        raise Forbidden("A sandbox (test/dev) key can only create test or dev keys")
    if own.expires_at is not None and (expires_at is None or expires_at > own.expires_at):
        raise Forbidden("This key expires: the keys it creates must expire no later than it does (set expires_at)")
    mine = own.caps
    if mine is None:
        return
    theirs = caps or KeyCaps()
    for name in ("max_budget", "requests_per_minute", "requests_per_hour", "requests_per_day", "requests_per_month",
                 "tokens_per_minute"):
        limit, wanted = getattr(mine, name), getattr(theirs, name)
        if limit is not None and (wanted is None or wanted > limit):
            raise Forbidden(f"This key has {name} = {limit}: the keys it creates need {name} of at most {limit}")
    if mine.allowed_models is not None:
        wanted_models = theirs.allowed_models

        def covered(model: str) -> bool:  # a pattern only by the same pattern; an id by any entry that allows it
            return model in (mine.allowed_models or []) if model.endswith("/*") else mine.allows_model(model)

        if wanted_models is None or not all(covered(m) for m in wanted_models):
            raise Forbidden(f"This key may use only {', '.join(mine.allowed_models)}: the keys it creates must name "
                            "allowed_models within that list")


def create_key(
    caller: Caller, *, key_name: str, environment: str, scopes: dict[str, list[str]], meta: dict[str, str | None],
    caps: KeyCaps | None = None, expires_at: int | None = None,
) -> tuple[str, ApiKeyRecord]:
    _within_caller_scopes(caller, scopes)
    _within_caller_caps(caller, caps, expires_at, environment)
    _future(expires_at)
    if len(apikeys.list_user_keys(caller.user_id)) >= MAX_KEYS_PER_USER:
        raise BadRequest(f"A user can hold at most {MAX_KEYS_PER_USER} keys: delete one first")
    raw = keys.generate_gw_key(environment)
    entry = audit.transaction_put(
        user_id=caller.user_id,
        action="api_key_created",
        resource_type="api_key",
        resource_id=keys.key_id_for_hash(keys.hash_key(raw)),
        details={"key_name": key_name, "environment": environment, "scopes": scopes, "by_key": caller.key.key_id,
                 "caps": caps.model_dump(exclude_none=True) if caps else None, "expires_at": expires_at},
        **meta,
    )
    # the key and its audit entry in one transaction: a failure (throttling, a lost answer) leaves neither behind
    record = apikeys.store_key(raw, user_id=caller.user_id, key_name=key_name, scope_permissions=scopes, caps=caps,
                               expires_at=expires_at, with_items=[entry])
    return raw, record


def _future(expires_at: int | None) -> None:
    if expires_at is not None and expires_at <= now_ts():
        raise BadRequest("field 'expires_at': must be in the future")


def update_key(
    caller: Caller, key_id: str, *, key_name: str | None, is_active: bool | None, meta: dict[str, str | None],
    caps: Any = apikeys._UNSET, expires_at: Any = apikeys._UNSET,
) -> ApiKeyRecord:
    if key_name is None and is_active is None and caps is apikeys._UNSET and expires_at is apikeys._UNSET:
        raise BadRequest("Nothing to update: send 'key_name', 'is_active', 'caps' and/or 'expires_at'")
    if is_active and key_id == caller.key.key_id:
        raise Forbidden("A key cannot re-activate itself: use another key of the account")
    target = apikeys.get_owned_key(caller.user_id, key_id)
    if caps is not apikeys._UNSET or expires_at is not apikeys._UNSET or is_active:
        # changing a key's caps (or bringing it back) gives it rights: no more than the calling key holds
        _within_caller_caps(caller, target.caps if caps is apikeys._UNSET else caps,
                            target.expires_at if expires_at is apikeys._UNSET else expires_at, target.environment)
        _within_caller_scopes(caller, target.scope_permissions)
    if expires_at is not apikeys._UNSET:
        _future(expires_at)
    record = apikeys.update_key(caller.user_id, key_id, key_name=key_name, is_active=is_active, caps=caps,
                                expires_at=expires_at)
    changes: dict[str, Any] = {k: v for k, v in (("key_name", key_name), ("is_active", is_active)) if v is not None}
    if caps is not apikeys._UNSET:
        changes["caps"] = caps.model_dump(exclude_none=True, mode="json") if caps else None
    if expires_at is not apikeys._UNSET:
        changes["expires_at"] = expires_at
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





def key_spent(record: ApiKeyRecord) -> Decimal | None:
    """A capped key's settled cost this month (its item counts it); None for keys without caps."""
    if record.caps is None:
        return None
    item = db.table(names.API_KEYS).get_item(Key={"key_id": record.key_id}).get("Item") or {}
    return account_state.key_spend(item)
