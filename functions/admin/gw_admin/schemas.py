"""Request and response models of the admin group."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

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




class UsageCorrectionRequest(StrictBody):
    user_id: str = Field(..., min_length=1, max_length=128, description="The user whose request is corrected")
    request_id: str = Field(..., min_length=1, max_length=128, description="The request (X-Gateway-Request-Id)")
    kind: Literal["refund", "reprice"] = Field(..., description="refund: give back `amount` (default all of the net "
                                                                 "cost); reprice: the request's total becomes `new_cost`")
    amount: Decimal | None = Field(None, gt=0, le=MAX_CREDIT_GRANT, decimal_places=12,
                                   description="refund only: the amount to give back")
    new_cost: Decimal | None = Field(None, ge=0, le=MAX_CREDIT_GRANT, decimal_places=12,
                                     description="reprice only: the request's correct total cost")
    reason: str = Field(..., min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_amount(self) -> UsageCorrectionRequest:
        if self.kind == "refund" and self.new_cost is not None:
            raise ValueError("a refund takes `amount`, not `new_cost`")
        if self.kind == "reprice" and (self.new_cost is None or self.amount is not None):
            raise ValueError("a reprice takes `new_cost` (the correct total), not `amount`")
        return self


class UsageCorrectionResponse(BaseModel):
    success: bool = True
    applied: bool = Field(description="False when this Idempotency-Key was already applied (nothing changed)")
    correction_id: str = Field(description="the request id of the correction's own usage record")
    request_id: str
    cost_change: Money = Field(description="signed: negative gives money back")
    net_cost: Money = Field(description="the request's cost after every correction")
    currency: str
