"""Request and response models of the auth group."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from gateway_common.money import Money
from gateway_common.schemas import StrictBody

AuthMethod = Literal["privy", "email", "google", "github", "apple", "twitter", "discord", "wallet", "sms", "passkey"]


class PrivySignInRequest(StrictBody):
    token: str = Field(..., min_length=1, max_length=8192, description="The Privy access token (ES256 JWT)")
    auth_method: AuthMethod = Field("privy", description="How the user signed in to Privy (informational)")
    username: str | None = Field(
        None, min_length=1, max_length=200,
        description="Display name used on first sign-in when the token carries no email (never trusted as an email)",
    )


class PrivySignInResponse(BaseModel):
    success: bool = True
    user_id: str
    username: str
    email: str | None
    role: str
    plan_id: int
    api_key: str = Field(description="A fresh session key (gw_live_…), shown only here; it expires at expires_at")
    key_id: str
    expires_at: str
    credits: Money
    subscription_status: str
    trial_available: bool
    is_new_user: bool


class AuthConfigResponse(BaseModel):
    success: bool = True
    privy_enabled: bool = Field(description="Whether POST /auth/privy is configured here")
    privy_app_id: str | None = Field(description="The Privy app id (public: the frontend's Privy client needs it)")
    session_ttl_seconds: int = Field(description="Lifetime of the session key each sign-in returns")
