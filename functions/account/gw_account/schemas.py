"""Request and response models of the account group."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from gateway_common.money import Money
from gateway_common.plans import Plan
from gateway_common.schemas import StrictBody

RESOURCES_HINT = "resource names such as 'chat', 'api_keys', 'usage', or '*' for all"


class ScopePermissions(StrictBody):
    read: list[str] = Field(default_factory=lambda: ["*"], description=RESOURCES_HINT)
    write: list[str] = Field(default_factory=lambda: ["*"], description=RESOURCES_HINT)

    @field_validator("read", "write")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or len(name) > 64 or not all(c.isalnum() or c in "*_-:" for c in name):
                raise ValueError(f"'{name}' is not a resource name ({RESOURCES_HINT})")
        return sorted(set(value))


MODEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*/(\*|[A-Za-z0-9][A-Za-z0-9._:-]*)$")


class KeyCapsInput(StrictBody):
    """Caps on one key, narrower than the plan. Each is optional; null removes it (on update)."""

    max_budget: Decimal | None = Field(None, ge=0, le=Decimal("1000000"), max_digits=14, decimal_places=6,
                                       description="most this key may spend per calendar month (UTC), account currency")
    requests_per_minute: int | None = Field(None, ge=0, le=10_000_000)
    requests_per_hour: int | None = Field(None, ge=0, le=100_000_000)
    requests_per_day: int | None = Field(None, ge=0, le=1_000_000_000)
    requests_per_month: int | None = Field(None, ge=0, le=10_000_000_000)
    tokens_per_minute: int | None = Field(None, ge=1, le=10_000_000_000)
    allowed_models: list[str] | None = Field(None, max_length=100, examples=[["openai/gpt-4o-mini", "anthropic/*"]],
                                             description="model ids ('openai/gpt-4o-mini') or patterns ('anthropic/*')")

    @field_validator("allowed_models")
    @classmethod
    def _models(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for item in value:
            if not MODEL_PATTERN.match(item):
                raise ValueError(f"'{item}' is not a model id or 'vendor/*' pattern")
        return sorted(set(value))


class CreateKeyRequest(StrictBody):
    key_name: str = Field(..., min_length=1, max_length=100)
    environment_tag: Literal["live", "test", "staging", "dev"] = "live"
    scope_permissions: ScopePermissions = Field(default_factory=ScopePermissions)
    caps: KeyCapsInput | None = Field(None, description="per-key caps, narrower than the plan")
    expires_at: datetime | None = Field(None, description="ISO 8601 time after which the key stops working")


class CapsView(BaseModel):
    max_budget: Money | None = None
    requests_per_minute: int | None = None
    requests_per_hour: int | None = None
    requests_per_day: int | None = None
    requests_per_month: int | None = None
    tokens_per_minute: int | None = None
    allowed_models: list[str] | None = None
    spent_this_month: Money | None = Field(None, description="settled cost this month (keys with caps)")


class CreateKeyResponse(BaseModel):
    success: bool = True
    api_key: str = Field(description="The full key. Shown only in this response: store it now.")
    key_id: str
    key_name: str
    environment_tag: str
    scope_permissions: dict[str, list[str]]
    created_at: str
    caps: CapsView | None = None
    expires_at: str | None = None


class KeyView(BaseModel):
    id: str
    key_name: str
    api_key: str = Field(description="Masked: the full key is shown only when created")
    environment_tag: str
    is_active: bool
    scope_permissions: dict[str, list[str]]
    created_at: str
    updated_at: str | None = None
    caps: CapsView | None = None
    expires_at: str | None = None


class KeyList(BaseModel):
    success: bool = True
    data: list[KeyView]
    count: int


class UpdateKeyRequest(StrictBody):
    key_name: str | None = Field(None, min_length=1, max_length=100)
    is_active: bool | None = None
    caps: KeyCapsInput | None = Field(None, description="replaces the key's caps ({} removes them all)")
    expires_at: datetime | None = Field(None, description="ISO 8601 time after which the key stops working")


class BalanceResponse(BaseModel):
    api_key: str = Field(description="The calling key, masked")
    credits: Money
    available_credits: Money = Field(description="Credits not held by in-flight requests")
    currency: str
    status: str
    user_id: str


class PlanView(BaseModel):
    id: int
    slug: str
    plan_name: str
    display_name: str
    plan_type: str
    description: str
    monthly_price: Money
    currency: str
    billing_mode: str
    requests_per_minute: int | None
    requests_per_hour: int | None
    daily_request_limit: int | None
    monthly_request_limit: int | None
    monthly_budget: Money | None
    features: list[str]

    @classmethod
    def of(cls, plan: Plan) -> PlanView:
        return cls(
            id=plan.id,
            slug=plan.slug,
            plan_name=plan.plan_name,
            display_name=plan.display_name,
            plan_type=plan.plan_type,
            description=plan.description,
            monthly_price=plan.monthly_price,
            currency=plan.currency,
            billing_mode=plan.billing_mode,
            requests_per_minute=plan.limits.requests_per_minute,
            requests_per_hour=plan.limits.requests_per_hour,
            daily_request_limit=plan.limits.requests_per_day,
            monthly_request_limit=plan.limits.requests_per_month,
            monthly_budget=plan.monthly_budget,
            features=plan.features,
        )


class PlanList(BaseModel):
    success: bool = True
    data: list[PlanView]
    count: int


class PlanDetail(BaseModel):
    success: bool = True
    plan: PlanView


class UserPlanView(PlanView):
    status: str
    start_date: str
    end_date: str


class UserPlanResponse(BaseModel):
    success: bool = True
    plan: UserPlanView
