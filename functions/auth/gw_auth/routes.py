"""HTTP edge of the auth group (public: the Privy token is the credential)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from gateway_common.timeutil import iso
from gateway_common.web import request_meta

from . import logic
from .schemas import AuthConfigResponse, PrivySignInRequest, PrivySignInResponse

router = APIRouter(tags=["auth"])


@router.post("/auth/privy", response_model=PrivySignInResponse, summary="Sign in with a Privy access token")
def privy_sign_in(body: PrivySignInRequest, request: Request) -> PrivySignInResponse:
    result = logic.sign_in(body.token, auth_method=body.auth_method, display_name=body.username, meta=request_meta(request))
    user = result.user
    return PrivySignInResponse(
        user_id=user.user_id,
        username=user.username,
        email=user.email,
        role=user.role,
        plan_id=user.plan_id,
        api_key=result.api_key,
        key_id=result.key.key_id,
        expires_at=iso(datetime.fromtimestamp(result.key.expires_at or 0, tz=UTC)),
        credits=user.credits,
        subscription_status=user.subscription_status,
        trial_available=user.trial is None,
        is_new_user=result.created,
    )


@router.get("/auth/config", response_model=AuthConfigResponse, summary="Sign-in configuration for frontends (public)")
def auth_config() -> AuthConfigResponse:
    app_id = logic.privy_app_id()
    return AuthConfigResponse(privy_enabled=logic.privy_configured(), privy_app_id=app_id,
                              session_ttl_seconds=logic.session_ttl_seconds())
