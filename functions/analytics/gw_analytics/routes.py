"""HTTP edge of the analytics group."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from gateway_common.auth import Caller
from gateway_common.web import authorized

from . import daily, key_use, logic
from .schemas import (
    ActivityHistoryResponse,
    ActivityStatsResponse,
    DailyModelsResponse,
    KeyUseResponse,
    LogActivityRequest,
    LogActivityResponse,
    MonitorResponse,
    RankingResponse,
    TransactionAnalyticsResponse,
)

router = APIRouter()


@router.post("/activity/log", response_model=LogActivityResponse, tags=["activity"], summary="Log an activity event")
def log_activity(body: LogActivityRequest, caller: Caller = authorized("activity")) -> LogActivityResponse:
    return logic.log_activity(caller, body.event_type, body.event_data, body.metadata)


@router.get("/activity/history", response_model=ActivityHistoryResponse, tags=["activity"],
            summary="Logged events and metered API calls (api_call), newest first")
def activity_history(
    event_type: str | None = Query(None, min_length=1, max_length=64),
    start_date: str | None = Query(None, description="ISO 8601 date or date-time"),
    end_date: str | None = Query(None, description="ISO 8601 date or date-time"),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=10_000),
    caller: Caller = authorized("activity"),
) -> ActivityHistoryResponse:
    return logic.activity_history(caller, event_type, start_date, end_date, limit, offset)


@router.get("/activity/stats", response_model=ActivityStatsResponse, tags=["activity"],
            summary="Totals, requests per model and per day/week/month (from rollups)")
def activity_stats(
    start_date: str | None = Query(None, description="ISO 8601; default 30 days ago"),
    end_date: str | None = Query(None, description="ISO 8601; default now"),
    group_by: Literal["day", "week", "month"] = Query("day"),
    caller: Caller = authorized("activity"),
) -> ActivityStatsResponse:
    return ActivityStatsResponse(statistics=logic.activity_stats(caller, start_date, end_date, group_by))


@router.get("/activity/daily", response_model=DailyModelsResponse, tags=["activity"],
            summary="Requests, tokens and cost per day per model (from rollups; default the last 30 days)")
def activity_daily(
    start_date: str | None = Query(None, description="ISO 8601; default 30 days ago"),
    end_date: str | None = Query(None, description="ISO 8601; default now"),
    caller: Caller = authorized("activity"),
) -> DailyModelsResponse:
    return daily.daily_by_model(caller, start_date, end_date)


@router.get("/activity/keys", response_model=KeyUseResponse, tags=["activity"],
            summary="Each of the caller's keys: the day it was last used and its requests in 30 days (from rollups)")
def activity_keys(caller: Caller = authorized("activity")) -> KeyUseResponse:
    return key_use.key_use(caller)


@router.get("/ranking/models", response_model=RankingResponse, tags=["models"],
            summary="Models ranked by tokens over the last 7 days (public)")
def ranking(limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0, le=10_000)) -> RankingResponse:
    return logic.model_ranking(limit, offset)


@router.get("/admin/monitor", response_model=MonitorResponse, tags=["admin"], summary="System monitoring (admin)")
def monitor(caller: Caller = authorized("admin", admin=True)) -> MonitorResponse:
    return logic.monitor()


@router.get("/admin/transaction-analytics", response_model=TransactionAnalyticsResponse, tags=["admin"],
            summary="Transaction analytics from rollups (admin); one of user_id, model, provider as filter")
def transaction_analytics(
    start_date: str | None = Query(None, description="ISO 8601; default 30 days ago"),
    end_date: str | None = Query(None, description="ISO 8601; default now"),
    user_id: str | None = Query(None, min_length=1, max_length=128),
    model: str | None = Query(None, min_length=1, max_length=200),
    provider: str | None = Query(None, min_length=1, max_length=64),
    currency: Literal["usd", "eur"] = Query("usd", description="revenue figures are amounts in this currency"),
    caller: Caller = authorized("admin", admin=True),
) -> TransactionAnalyticsResponse:
    return TransactionAnalyticsResponse(
        analytics=logic.transaction_analytics(start_date, end_date, user_id, model, provider, currency)
    )
