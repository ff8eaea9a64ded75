"""Key authentication: header parsing, SHA-256 lookup, a bounded in-memory cache, and the status checks.

A key is accepted as ``Authorization: Bearer <key>`` or ``X-License-Key: <key>``. Reads may use the per-process cache
(``KEY_CACHE_TTL_SECONDS``, 30 s by default); writes re-read the key (``fresh``), and AI requests are refused by
admission's own write, so a revoked, deleted or expired key can no longer write or spend at once, and can read for at
most the cache bound.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass

from . import apikeys, plans, users
from .errors import Forbidden, Unauthorized
from .keys import hash_key, is_well_formed, key_id_for_hash
from .models import ApiKeyRecord, UserRecord
from .plans import Plan
from .settings import get_settings
from .timeutil import now_ts


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key, its user and the plan whose limits apply."""

    key: ApiKeyRecord
    user: UserRecord
    plan: Plan

    @property
    def user_id(self) -> str:
        return self.user.user_id

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    @property
    def is_sandbox(self) -> bool:
        return self.key.is_sandbox

    def plan_windows(self) -> dict[str, int]:
        """The request limits of AI calls: the plan's, with the admin override winning where it sets a value."""
        windows = self.plan.limits.windows()
        override = self.user.rate_limit_override
        if override is not None:
            for window, value in (
                ("minute", override.requests_per_minute),
                ("hour", override.requests_per_hour),
                ("day", override.requests_per_day),
            ):
                if value is not None:
                    windows[window] = value
        return windows

    def can(self, access: str, resource: str) -> bool:
        allowed = self.key.scope_permissions.get(access, [])
        return "*" in allowed or resource in allowed


_cache: dict[str, tuple[float, Caller]] = {}
_cache_lock = threading.Lock()
_CACHE_MAX = 10_000


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def extract_key(authorization: str | None, license_key: str | None) -> str:
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Malformed Authorization header: use 'Authorization: Bearer <api key>'")
        return value.strip()
    if license_key and license_key.strip():
        return license_key.strip()
    raise Unauthorized("Missing API key: send 'Authorization: Bearer <api key>' or 'X-License-Key: <license key>'")


def _key_hash(authorization: str | None, license_key: str | None) -> str:
    raw = extract_key(authorization, license_key)
    if not is_well_formed(raw):
        raise Unauthorized(
            "Invalid API key format: expected gw_{live|test|staging|dev}_… or CHA-XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX"
        )
    return hash_key(raw)


def _cached(key_hash: str, now: float) -> Caller | None:
    with _cache_lock:
        hit = _cache.get(key_hash)
    return hit[1] if hit is not None and hit[0] > now else None


def cached_caller(authorization: str | None, license_key: str | None) -> Caller | None:
    """``authenticate`` without I/O: the caller when its key's lookup is cached and fresh (checked alike), else None
    (then ``authenticate`` reads DynamoDB). The event loop may call it, saving a thread hop per request."""
    caller = _cached(_key_hash(authorization, license_key), now_ts())
    if caller is not None:
        _check_usable(caller)
    return caller


def authenticate(authorization: str | None, license_key: str | None, *, fresh: bool = False) -> Caller:
    """The caller of a request. ``fresh`` skips the cache (writes re-read the key: revocation applies at once)."""
    key_hash = _key_hash(authorization, license_key)
    now = now_ts()
    caller = None if fresh else _cached(key_hash, now)
    if caller is None:
        caller = _load_caller(key_hash)
        ttl = get_settings().key_cache_ttl_seconds
        if ttl > 0:
            with _cache_lock:
                if len(_cache) >= _CACHE_MAX:
                    _cache.clear()
                _cache[key_hash] = (now + ttl, caller)
    _check_usable(caller)
    return caller


def _load_caller(key_hash: str) -> Caller:
    record = apikeys.get_key(key_id_for_hash(key_hash))
    if record is None or not hmac.compare_digest(record.key_hash, key_hash):
        raise Unauthorized("Invalid API key: no such key")
    user = users.get_user(record.user_id)
    if user is None:
        raise Unauthorized("Invalid API key: its account no longer exists")
    plan = plans.get_plan(record.plan_id if record.plan_id is not None else user.plan_id)
    return Caller(key=record, user=user, plan=plan)


def _check_usable(caller: Caller) -> None:
    key = caller.key
    if key.status == "deleted":
        raise Unauthorized("This API key was deleted")
    if not key.is_active:
        raise Unauthorized("This API key is inactive: re-activate it with PUT /user/api-keys/{key_id}")
    if key.expires_at is not None and key.expires_at <= now_ts():
        raise Unauthorized("This API key has expired: sign in again for a new one")
    if caller.user.status != "active":
        raise Unauthorized(f"This account is {caller.user.status}")


def require_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise Forbidden("This endpoint needs the admin role")


def require_scope(caller: Caller, access: str, resource: str) -> None:
    if not caller.can(access, resource):
        raise Forbidden(f"This API key lacks the '{access}' permission on '{resource}' (see its scope_permissions)")
