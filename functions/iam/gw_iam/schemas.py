"""Request and response models of the IAM group."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from gateway_common.schemas import StrictBody

SettableRole = Literal["user", "admin"]
MAX_LIMIT = 10_000_000
MAX_ROUTE_LENGTH = 200


class UpdateRoleRequest(StrictBody):
    role: SettableRole = Field(..., description="user or admin")
    reason: str = Field(..., min_length=1, max_length=500, description="Why: kept in the audit log")


class RoleResponse(BaseModel):
    success: bool = True
    user_id: str
    role: str
    permissions: list[str]
    assigned_at: str


class UpdateRoleResponse(BaseModel):
    success: bool = True
    message: str
    user_id: str
    old_role: str
    new_role: str
    updated_at: str


class RoleRow(BaseModel):
    user_id: str
    email: str | None
    username: str
    role: str
    status: str
    assigned_at: str | None


class RoleList(BaseModel):
    success: bool = True
    data: list[RoleRow]
    total: int
    limit: int
    offset: int
    permissions: dict[str, list[str]] = Field(description="What each role may do")


class SetRateLimitsRequest(StrictBody):
    user_id: str = Field(..., min_length=1, max_length=100)
    requests_per_minute: int | None = Field(None, ge=0, le=MAX_LIMIT, description="0 blocks AI requests in this window")
    requests_per_hour: int | None = Field(None, ge=0, le=MAX_LIMIT, description="0 blocks AI requests in this window")
    requests_per_day: int | None = Field(None, ge=0, le=MAX_LIMIT, description="0 blocks AI requests in this window")
    tokens_per_minute: int | None = Field(None, ge=0, le=10**10, description="tokens per minute of AI requests")
    custom_limits: dict[str, int] = Field(
        default_factory=dict, max_length=50,
        description="Per-endpoint requests per minute for this account, keyed 'METHOD /path' as routed (e.g. "
                    "'POST /v1/chat/completions') or by the short names chat_completions, responses, image_generation, "
                    "api_chat; 0 blocks the endpoint for this user. An unknown name is a 400 listing the valid ones",
    )
    reason: str = Field(..., min_length=1, max_length=500, description="Why: kept in the audit log")

    @field_validator("custom_limits")
    @classmethod
    def _routes(cls, value: dict[str, int]) -> dict[str, int]:
        for route, limit in value.items():
            if len(route) > MAX_ROUTE_LENGTH:
                raise ValueError(f"endpoint '{route[:40]}…' is longer than {MAX_ROUTE_LENGTH} characters")
            if not 0 <= limit <= MAX_LIMIT:
                raise ValueError(f"limit of '{route}' must be between 0 (blocks the endpoint) and {MAX_LIMIT}")
        return value

    @model_validator(mode="after")
    def _something(self) -> SetRateLimitsRequest:
        if (self.requests_per_minute, self.requests_per_hour, self.requests_per_day, self.tokens_per_minute) \
                == (None, None, None, None) \
                and not self.custom_limits:
            raise ValueError("set at least one of requests_per_minute, requests_per_hour, requests_per_day, custom_limits"
                             " (DELETE /admin/rate-limits/{user_id} removes an override)")
        return self


class RateLimitValues(BaseModel):
    requests_per_minute: int | None
    requests_per_hour: int | None
    requests_per_day: int | None
    custom_limits: dict[str, int] = Field(default_factory=dict)


class PlanLimitValues(BaseModel):
    requests_per_minute: int | None
    requests_per_hour: int | None
    requests_per_day: int | None
    requests_per_month: int | None


class OverrideView(RateLimitValues):
    reason: str
    set_by: str
    set_at: str


class CurrentUsage(BaseModel):
    requests_this_minute: int
    requests_this_hour: int
    requests_this_day: int


class RateLimitsResponse(BaseModel):
    success: bool = True
    user_id: str
    plan_id: int
    source: Literal["plan", "override"] = Field(description="Whether an admin override is in force")
    rate_limits: RateLimitValues = Field(description="What applies now: the override where it sets a value, else the plan")
    plan_limits: PlanLimitValues
    override: OverrideView | None
    current_usage: CurrentUsage = Field(description="AI requests in the current windows, summed over all the user's keys")
    keys_counted: int


class SetRateLimitsResponse(BaseModel):
    success: bool = True
    message: str
    user_id: str
    rate_limits: RateLimitValues
    reason: str
    set_by: str
    set_at: str


class RemoveRateLimitsResponse(BaseModel):
    success: bool = True
    message: str
    user_id: str
    removed: bool


class AuditEntry(BaseModel):
    id: str
    user_id: str = Field(description="Who acted")
    action: str
    resource_type: str
    resource_id: str
    details: dict[str, Any]
    ip_address: str | None
    user_agent: str | None
    timestamp: str


class AuditChainBreak(BaseModel):
    partition: str = Field(description="The month partition (YYYY-MM)")
    sk: str | None = Field(description="The sort key of the entry where the chain breaks")
    id: str | None
    seq: int | None = Field(description="Its place in the partition's chain")
    reason: str


class AuditVerifyResponse(BaseModel):
    success: bool = True
    verified: bool = Field(description="True when every link of every partition walked holds")
    partitions: list[str] = Field(description="The month partitions walked, oldest first")
    entries_checked: int = Field(description="Entries whose link held, up to the first break")
    first_broken: AuditChainBreak | None


class AuditLogList(BaseModel):
    success: bool = True
    data: list[AuditEntry]
    total: int
    limit: int
    offset: int
