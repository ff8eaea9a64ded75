"""Sign-in rules: a verified Privy identity maps to one user (created on first sign-in on the Free plan, with the
trial offer open), and every sign-in issues a fresh, expiring ``gw_live_`` session key.

The user id is derived from the Privy DID, so two concurrent first sign-ins race on one conditional put and end on the
same account. The session key's plaintext exists only in the response (only its hash is stored); an expired session
key is refused by key auth and is soft-deleted at the user's next sign-in.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from gateway_common import apikeys, audit, plans, users
from gateway_common.errors import Conflict, GatewayError, Unauthorized
from gateway_common.models import ApiKeyRecord, UserRecord
from gateway_common.timeutil import now_ts

from . import privy

SESSION_KEY_NAME = "Privy session"
DEFAULT_SESSION_TTL_SECONDS = 86_400
MIN_SESSION_TTL_SECONDS = 300
MAX_SESSION_TTL_SECONDS = 30 * 86_400
MAX_LIVE_SESSIONS = 5  # per user; the oldest is revoked when a sign-in would exceed it
# The Free plan is in force from the first sign-in: "active", as for every other account. The trial is an offer
# (``trial_available`` in the response) started with POST /trials/start (payments group), which sets "trial".
NEW_USER_STATUS = "active"


@dataclass(frozen=True)
class SignIn:
    user: UserRecord
    api_key: str
    key: ApiKeyRecord
    created: bool


def session_ttl_seconds() -> int:
    """PRIVY_SESSION_TTL_SECONDS (default one day), kept between 5 minutes and 30 days."""
    try:
        ttl = int(os.environ.get("PRIVY_SESSION_TTL_SECONDS", DEFAULT_SESSION_TTL_SECONDS))
    except ValueError:
        ttl = DEFAULT_SESSION_TTL_SECONDS
    return min(max(ttl, MIN_SESSION_TTL_SECONDS), MAX_SESSION_TTL_SECONDS)


def privy_app_id() -> str | None:
    return os.environ.get("PRIVY_APP_ID", "").strip() or None


def privy_configured() -> bool:
    try:
        privy.configuration()
    except GatewayError:
        return False
    return True


def user_id_for(did: str) -> str:
    return "user_" + hashlib.sha256(f"privy:{did}".encode()).hexdigest()[:16]


def _create_user(claims: privy.PrivyClaims, *, auth_method: str, display_name: str | None,
                 meta: dict[str, str | None]) -> tuple[UserRecord, bool]:
    user_id = user_id_for(claims.did)
    plan = plans.default_plan()
    email = claims.email
    if email and users.find_by_email(email) is not None:
        email = None  # the address belongs to another account: never merge accounts on an address
    try:
        user = _put_user(user_id, claims, email, auth_method=auth_method, display_name=display_name, plan=plan)
    except Conflict:
        existing = users.get_user(user_id)  # a concurrent first sign-in of this identity won the conditional put
        if existing is not None:
            return existing, False
        if email is None:
            raise
        # another identity claimed the address meanwhile: this account is created without it
        user = _put_user(user_id, claims, None, auth_method=auth_method, display_name=display_name, plan=plan)
    audit.record(
        user_id=user.user_id, action="user_created", resource_type="user", resource_id=user.user_id,
        details={"via": "privy_sign_in", "auth_method": auth_method, "plan_id": plan.id,
                 "subscription_status": NEW_USER_STATUS},
        **meta,
    )
    return user, True


def _put_user(user_id: str, claims: privy.PrivyClaims, email: str | None, *, auth_method: str, display_name: str | None,
              plan: plans.Plan) -> UserRecord:
    return users.create_user(
        user_id=user_id,
        username=email or display_name or claims.did,  # never another account's address
        email=email,
        plan_id=plan.id,
        auth_method=auth_method,
        currency=plan.currency,
        subscription_status=NEW_USER_STATUS,
        extra={"privy_did": claims.did},
    )


def _retire_sessions(user_id: str) -> list[str]:
    """Soft-delete expired session keys, and the oldest live ones beyond MAX_LIVE_SESSIONS - 1 (room for the new one).

    Returns the ids of live sessions revoked. Without the bound, every sign-in inside a session's lifetime would add a
    live key, and sessions would crowd out the user's own keys (MAX_KEYS_PER_USER of the account group).
    """
    now = now_ts()
    sessions = sorted(
        (k for k in apikeys.list_user_keys(user_id) if k.key_name == SESSION_KEY_NAME and k.status != "deleted"),
        key=lambda k: k.created_at,
    )
    live = []
    for key in sessions:
        if key.expires_at is not None and key.expires_at <= now:
            apikeys.delete_key(user_id, key.key_id)
        else:
            live.append(key)
    revoked = live[: max(len(live) - (MAX_LIVE_SESSIONS - 1), 0)]
    for key in revoked:
        apikeys.delete_key(user_id, key.key_id)
    return [k.key_id for k in revoked]


def sign_in(token: str, *, auth_method: str, display_name: str | None, meta: dict[str, str | None]) -> SignIn:
    claims = privy.verify(token)
    user = users.get_user(user_id_for(claims.did))
    created = False
    if user is None:
        user, created = _create_user(claims, auth_method=auth_method, display_name=display_name, meta=meta)
    if user.status != "active":
        raise Unauthorized(f"This account is {user.status}: contact support")
    revoked = _retire_sessions(user.user_id)
    expires_at = int(now_ts()) + session_ttl_seconds()
    raw, key = apikeys.create_gw_key(
        user_id=user.user_id, key_name=SESSION_KEY_NAME, environment="live", expires_at=expires_at
    )
    audit.record(
        user_id=user.user_id, action="sign_in", resource_type="session", resource_id=key.key_id,
        details={"method": "privy", "auth_method": auth_method, "new_user": created, "expires_at": expires_at,
                 "privy_session": claims.session_id, "revoked_sessions": revoked},
        **meta,
    )
    return SignIn(user=users.require_user(user.user_id), api_key=raw, key=key, created=created)
