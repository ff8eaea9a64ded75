"""Request and response models of the analytics group (activity, rankings, monitor, transaction analytics)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, field_validator

from gateway_common.money import Money
from gateway_common.schemas import StrictBody

MAX_JSON_BYTES = {"event_data": 8192, "metadata": 2048}
MAX_JSON_DEPTH = 16


def _too_deep(value: Any, limit: int) -> bool:
    """Whether objects/arrays nest more than ``limit`` levels (iterative: a deep document cannot exhaust the stack)."""
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


class LogActivityRequest(StrictBody):
    event_type: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                            description="e.g. api_call, login, settings_changed (letters, digits, _ . : -)")
    event_data: dict[str, Any] = Field(default_factory=dict,
                                       description="free-form JSON object (at most 8 KB as JSON, 16 levels deep)")
    metadata: dict[str, Any] = Field(default_factory=dict,
                                     description="e.g. ip_address, user_agent (at most 2 KB as JSON, 16 levels deep)")

    @field_validator("event_data", "metadata")
    @classmethod
    def _storable(cls, value: dict[str, Any], info: Any) -> dict[str, Any]:
        """Stored as the JSON text the client sent (any JSON object reads back as written), so only JSON's own limits
        apply: finite numbers, bounded size and nesting (a deeper document could not be encoded again on read)."""
        if _too_deep(value, MAX_JSON_DEPTH):
            raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep")
        try:
            text = json.dumps(value, allow_nan=False, separators=(",", ":"))
        except ValueError:
            raise ValueError("numbers must be finite (NaN and Infinity are not JSON)") from None
        cap = MAX_JSON_BYTES[info.field_name]
        if len(text.encode()) > cap:
            raise ValueError(f"too large: at most {cap} bytes of JSON")
        return value


class LogActivityResponse(BaseModel):
    success: bool = True
    activity_id: str
    timestamp: str


class ActivityEvent(BaseModel):
    id: str
    event_type: str
    event_data: dict[str, Any]
    metadata: dict[str, Any] = Field(default_factory=dict)
    source: str = Field(description="'log' for POST /activity/log events, 'usage' for metered API calls")
    timestamp: str


class ActivityHistoryResponse(BaseModel):
    success: bool = True
    data: list[ActivityEvent]
    total: int
    limit: int
    offset: int


class PeriodStats(BaseModel):
    date: str = Field(description="the period: YYYY-MM-DD (day, or the Monday of a week) or YYYY-MM (month)")
    requests: int
    tokens: int
    cost: Money = Field(description="in `currency` only")
    cost_by_currency: dict[str, Money] = Field(default_factory=dict)


class ActivityStatistics(BaseModel):
    total_requests: int
    total_tokens: int
    total_cost: Money = Field(description="in `currency` (the account's) only; every currency in cost_by_currency")
    currency: str
    cost_by_currency: dict[str, Money] = Field(
        default_factory=dict, description="e.g. a license key's EUR spend beside the account's USD spend, never summed")
    average_tokens_per_request: float
    by_model: dict[str, int] = Field(description="requests per model")
    by_day: list[PeriodStats]
    group_by: str
    start_date: str
    end_date: str


class ActivityStatsResponse(BaseModel):
    success: bool = True
    statistics: ActivityStatistics


class RankedModel(BaseModel):
    rank: int
    model_name: str
    model_id: str
    author: str
    logo_url: str | None
    tokens: str = Field(description="tokens over the last 7 days, e.g. '8.2B tokens'")
    token_count: int
    requests: int
    trend_percentage: str
    trend_direction: str = Field(description="up, down or flat (against the 7 days before)")


class RankingResponse(BaseModel):
    success: bool = True
    data: list[RankedModel]
    count: int
    total: int
    has_logo_urls: bool


class SystemStatus(BaseModel):
    status: str
    uptime: int
    active_users: int
    total_requests: int


class DatabaseStatus(BaseModel):
    status: str
    response_time: float = Field(description="milliseconds of a real DynamoDB round trip")


class RollupStatus(BaseModel):
    last_run_at: str | None
    lag_seconds: float | None = Field(description="age of the oldest usage record not rolled up yet (largest shard)")
    shard_lag: dict[str, float] = Field(default_factory=dict, description="the same, per stream shard")
    complete_until: str | None = Field(None, description="the rollups count every record written before this time")


class MonitorResponse(BaseModel):
    success: bool = True
    system: SystemStatus
    database: DatabaseStatus
    rollups: RollupStatus
    timestamp: str


class CurrencyFigures(BaseModel):
    """One currency's figures: never mixed with another's (no conversion anywhere in these figures)."""

    transactions: int = Field(description="requests whose cost is in this currency")
    revenue: Money
    average_transaction_value: Money = Field(description="revenue / transactions, both in this currency")


class CountRevenue(BaseModel):
    count: int = Field(description="requests, every currency")
    revenue: Money = Field(description="revenue in the selected currency only")
    credits: int | None = None
    by_currency: dict[str, CurrencyFigures] = Field(default_factory=dict)


class TimePoint(BaseModel):
    date: str
    transactions: int
    revenue: Money = Field(description="revenue in the selected currency only")
    revenue_by_currency: dict[str, Money] = Field(default_factory=dict)


class TransactionAnalytics(BaseModel):
    total_transactions: int = Field(description="requests, every currency (sandbox ones included, at cost 0)")
    total_revenue: Money = Field(description="revenue in the selected currency only")
    total_credits_used: int = Field(description="tokens metered")
    average_transaction_value: Money = Field(
        description="the selected currency's revenue over the selected currency's transactions")
    currency: str
    currency_transactions: int = Field(description="transactions whose cost is in the selected currency")
    by_currency: dict[str, CurrencyFigures] = Field(description="every currency's figures, each on its own")
    sandbox_transactions: int = Field(description="of total_transactions, answered by the sandbox (never charged)")
    corrections: int = Field(description="admin corrections (refunds, re-prices) whose amounts are in the revenue")
    by_model: dict[str, CountRevenue]
    by_provider: dict[str, CountRevenue]
    by_user_tier: dict[str, CountRevenue]
    time_series: list[TimePoint]
    start_date: str
    end_date: str


class TransactionAnalyticsResponse(BaseModel):
    success: bool = True
    analytics: TransactionAnalytics


class ModelDay(BaseModel):
    requests: int
    tokens: int
    cost: Money


class DailyPoint(BaseModel):
    date: str = Field(description="YYYY-MM-DD (UTC)")
    models: dict[str, ModelDay] = Field(description="per model; empty on a day without requests")


class DailyModelsResponse(BaseModel):
    success: bool = True
    currency: str
    models: list[str] = Field(description="every model of the range, most requests first")
    days: list[DailyPoint] = Field(description="every day of the range, oldest first")
    start_date: str
    end_date: str


class KeyUse(BaseModel):
    key_id: str
    last_used: str | None = Field(description="YYYY-MM-DD (UTC) of the key's last request; null when none in lookback_days")
    requests_30_days: int


class KeyUseResponse(BaseModel):
    success: bool = True
    data: list[KeyUse] = Field(description="one per key of the caller (deleted keys excepted)")
    lookback_days: int
