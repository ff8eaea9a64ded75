"""Response models of the usage and limits API (/api/usage/*, /api/limits/check), shaped as the seed documents them.

Amounts are in the plan's currency (``currency``); the seed's ``*_eur`` fields carry the same amount when that currency
is EUR (the license plans) and are null otherwise, so a USD plan is never shown as euros.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from gateway_common.money import Money


class UsagePlan(BaseModel):
    name: str
    display_name: str
    price: Money
    currency: str


class MonthUsage(BaseModel):
    requests: int
    tokens: int
    cost: Money
    cost_eur: Money | None
    currency: str
    avg_response_time_ms: int


class WindowUsage(BaseModel):
    requests: int


class LicenseLimits(BaseModel):
    monthly_requests: int | None
    requests_per_minute: int | None
    requests_per_hour: int | None
    requests_per_day: int | None
    monthly_budget: Money | None

    @classmethod
    def fields_from(cls, windows: dict[str, int], budget: Decimal | None) -> dict[str, Any]:
        """The limit fields from counter windows (``Caller.plan_windows()``) and the plan's monthly budget."""
        return {
            "monthly_requests": windows.get("month"),
            "requests_per_minute": windows.get("minute"),
            "requests_per_hour": windows.get("hour"),
            "requests_per_day": windows.get("day"),
            "monthly_budget": budget,
        }


class UsageLimits(LicenseLimits):
    monthly_budget_eur: Money | None


class UsagePercentages(BaseModel):
    requests: float = Field(description="monthly requests used, percent of the monthly limit")
    budget: float = Field(description="monthly budget used, percent")


class CurrentUsage(BaseModel):
    current_month: MonthUsage
    current_day: WindowUsage
    current_hour: WindowUsage
    current_minute: WindowUsage
    limits: UsageLimits
    usage_percentages: UsagePercentages


class CurrentUsageResponse(BaseModel):
    status: str = "success"
    license_key: str = Field(description="the key, masked")
    plan: UsagePlan
    current_usage: CurrentUsage
    warnings: list[str]
    timestamp: str


class Period(BaseModel):
    start: str
    end: str
    days: int


class ProviderDay(BaseModel):
    requests: int
    tokens: int
    cost: Money
    avg_response_time: int


class DayUsage(BaseModel):
    total_requests: int
    total_tokens: int
    total_cost: Money
    errors: int
    avg_response_time: int
    by_provider: dict[str, ProviderDay]


class RecentRequest(BaseModel):
    endpoint: str
    provider: str
    model: str
    tokens_used: int
    cost: Money
    response_time_ms: int
    status: str
    created_at: str
    ip_address: str | None
    kind: str = Field("request", description="request, or correction (a refund or re-price of `corrects`)")
    corrects: str | None = None
    in_summary: bool = Field(description="whether the summary and daily_usage count it yet (they come from rollups, "
                                         "which trail the records by rollup_lag_seconds)")


class HistorySummary(BaseModel):
    total_requests: int
    total_tokens: int
    total_cost: Money
    currency: str
    days_with_usage: int
    avg_requests_per_day: float
    complete_until: str | None = Field(description="the summary and daily_usage count every request settled before "
                                                   "this time (null: the rollup job has not run yet)")
    rollup_lag_seconds: float | None = Field(description="how far the summary trails the recent requests")


class UsageHistoryResponse(BaseModel):
    status: str = "success"
    license_key: str
    period: Period
    provider: str | None
    daily_usage: dict[str, DayUsage]
    recent_requests: list[RecentRequest]
    summary: HistorySummary


class CountLimit(BaseModel):
    passed: bool
    current: int
    limit: int | None
    percentage: float | None = None


class BudgetLimit(BaseModel):
    passed: bool
    current_cost: Money
    current_cost_eur: Money | None
    limit: Money | None
    limit_eur: Money | None
    currency: str
    percentage: float
    held: Money = Field(default=0, description="Budget held by requests in flight (counted against the budget)")


class LimitsStatus(BaseModel):
    monthly_requests: CountLimit
    requests_per_minute: CountLimit
    requests_per_hour: CountLimit
    requests_per_day: CountLimit
    monthly_budget: BudgetLimit


class ResetTimes(BaseModel):
    next_minute: str
    next_hour: str
    next_day: str
    next_month: str


class DefaultRequest(BaseModel):
    """The request the check judges: what /api/chat gets with its defaults and this prompt."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int = Field(description="the default output cap: the model's output limit")
    prompt_tokens_estimate: int
    max_cost: Money = Field(description="what admission holds for it")
    currency: str


class LimitsCheckResponse(BaseModel):
    status: str = "success"
    license_key: str
    can_make_request: bool
    limits_status: LimitsStatus
    blocking_factors: list[str] = Field(description="names of the limits that block a request now (empty when allowed)")
    warnings: list[str]
    reset_times: ResetTimes
    remaining: Money | None = Field(None, description="budget left (AI-included plans) or available credits")
    remaining_eur: Money | None = None
    currency: str = "usd"
    default_request: DefaultRequest
    largest_max_tokens: int = Field(description="the largest max_tokens the default request could ask for now")
