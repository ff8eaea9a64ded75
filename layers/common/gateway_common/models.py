"""Stored records of the shared tables, as pydantic models (the DynamoDB item is ``model_dump()``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

Role = Literal["user", "admin", "support"]


class RateLimitOverride(BaseModel):
    """Admin override of a user's request limits; wins over the plan for all of the user's keys."""

    requests_per_minute: int | None = None
    requests_per_hour: int | None = None
    requests_per_day: int | None = None
    tokens_per_minute: int | None = None
    custom_limits: dict[str, int] = Field(default_factory=dict)
    reason: str = ""
    set_by: str = ""
    set_at: str = ""


class TrialInfo(BaseModel):
    """A user's free trial (one per user, ever). ``ends_at`` is epoch seconds."""

    trial_id: str
    trial_type: str = "standard"
    started_at: str
    ends_at: int
    credits: Decimal
    max_requests: int
    status: Literal["active", "converted", "expired"] = "active"


class AutoTopup(BaseModel):
    """A user's auto top-up (see ``autotopup.py``): the saved card, the rule, and the crossing state machine."""

    enabled: bool = False
    threshold: Decimal = Decimal("0")
    amount: Decimal = Decimal("0")
    payment_method: str | None = None  # saved by a setup-mode Checkout (setup_intent.succeeded)
    armed: bool = True  # the next settle below the threshold starts a top-up
    crossing: int = 0  # number of the last crossing that started a top-up
    pending: int | None = None  # the crossing whose PaymentIntent has not succeeded or failed yet
    failures: int = 0  # failed top-ups in a row
    disabled_reason: str | None = None


class UserRecord(BaseModel):
    user_id: str
    username: str
    email: str | None = None
    role: Role = "user"
    plan_id: int
    status: Literal["active", "suspended", "deleted"] = "active"
    available: Decimal = Decimal("0")
    reserved: Decimal = Decimal("0")
    currency: str = "usd"
    auth_method: str = "email"
    subscription_status: str = "active"
    plan_started_at: str
    created_at: str
    role_assigned_at: str | None = None
    rate_limit_override: RateLimitOverride | None = None
    trial: TrialInfo | None = None
    stripe_customer_id: str | None = None
    subscription_id: str | None = None  # the Stripe subscription whose state sets plan_id (see subscriptions.py)
    auto_topup: AutoTopup | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def credits(self) -> Decimal:
        """The balance: credits added minus usage settled. Open reservations are part of it until settled."""
        return self.available + self.reserved


class KeyCaps(BaseModel):
    """Limits the owner puts on one key, narrower than the plan (LiteLLM's virtual-key budgets). All optional."""

    max_budget: Decimal | None = Field(None, description="Most this key may spend per calendar month (UTC), account currency")
    requests_per_minute: int | None = None
    requests_per_hour: int | None = None
    requests_per_day: int | None = None
    requests_per_month: int | None = None
    tokens_per_minute: int | None = None
    allowed_models: list[str] | None = Field(None, description="Model ids or 'vendor/*' patterns; others are refused")

    def windows(self) -> dict[str, int]:
        pairs = (("minute", self.requests_per_minute), ("hour", self.requests_per_hour),
                 ("day", self.requests_per_day), ("month", self.requests_per_month))
        return {window: value for window, value in pairs if value is not None}

    @property
    def counted(self) -> bool:
        """Whether admission writes the key's item (windows, tokens or budget to count)."""
        return bool(self.windows()) or self.tokens_per_minute is not None or self.max_budget is not None

    def allows_model(self, model_id: str) -> bool:
        if self.allowed_models is None:
            return True
        return any(model_id == p or (p.endswith("/*") and model_id.startswith(p[:-1])) for p in self.allowed_models)


class ApiKeyRecord(BaseModel):
    key_id: str
    key_hash: str
    user_id: str
    key_name: str
    kind: Literal["gw", "license"] = "gw"
    environment: str = "live"
    masked: str
    is_active: bool = True
    status: Literal["active", "deleted"] = "active"
    scope_permissions: dict[str, list[str]] = Field(default_factory=lambda: {"read": ["*"], "write": ["*"]})
    created_at: str
    updated_at: str | None = None
    expires_at: int | None = None  # epoch seconds; session keys from sign-in expire
    plan_id: int | None = None  # license keys carry their plan; gw keys use the user's
    caps: KeyCaps | None = None

    @property
    def is_sandbox(self) -> bool:
        return self.environment in ("test", "dev")
