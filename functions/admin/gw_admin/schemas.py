"""Request and response models of the admin group."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from gateway_common.money import Money
from gateway_common.schemas import StrictBody

MAX_CREDIT_GRANT = Decimal("1000000")


class CreateUserRequest(StrictBody):
    username: str = Field(..., min_length=1, max_length=200)
    email: str = Field(..., min_length=3, max_length=254)
    auth_method: Literal["email", "google", "github", "wallet", "privy"] = "email"
    environment_tag: Literal["live", "test", "staging", "dev"] = "live"
    plan_id: int | str | None = Field(None, description="Plan id or slug; the Free plan when omitted")
    initial_credits: Decimal = Field(Decimal("10.00"), ge=0, le=MAX_CREDIT_GRANT, description="Welcome credits")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        local, at, domain = value.partition("@")
        if not at or not local or "." not in domain or " " in value:
            raise ValueError("not an email address")
        return value.lower()


class CreateUserResponse(BaseModel):
    success: bool = True
    user_id: str
    username: str
    email: str
    api_key: str = Field(description="The new user's first key, shown only here")
    credits: Money
    plan_id: int


class AddCreditsRequest(StrictBody):
    user_id: str | int = Field(..., description="The user to credit")
    credits: Decimal = Field(..., gt=0, le=MAX_CREDIT_GRANT, decimal_places=6)
    reason: str = Field(..., min_length=1, max_length=500)

    @field_validator("user_id")
    @classmethod
    def _user_id(cls, value: str | int) -> str:
        return str(value)


class AddCreditsResponse(BaseModel):
    success: bool = True
    message: str
    new_balance: Money
    applied: bool = Field(description="False when this Idempotency-Key was already applied (nothing changed)")


