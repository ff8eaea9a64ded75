"""Rules of the analytics group. Everything reads rollups or indexed queries; nothing scans a table."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from gateway_common import db, plans, rollups
from gateway_common.auth import Caller
from gateway_common.dates import parse_date_param
from gateway_common.errors import BadRequest, NotFound
from gateway_common.parallel import run_parallel
from gateway_common.timeutil import iso, iso_now, now_ts, utcnow
from gateway_common.web import STARTED_AT

from . import activity_dal
from .schemas import (
    ActivityEvent,
    ActivityHistoryResponse,
    ActivityStatistics,
    CountRevenue,
    CurrencyFigures,
    DatabaseStatus,
    LogActivityResponse,
    MonitorResponse,
    PeriodStats,
    RankedModel,
    RankingResponse,
    RollupStatus,
    SystemStatus,
    TimePoint,
    TransactionAnalytics,
)

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30
AUTHOR_DOMAINS = {
    "openai": "openai.com", "anthropic": "anthropic.com", "google": "google.com", "meta-llama": "meta.com",
    "meta": "meta.com", "mistralai": "mistral.ai", "mistral": "mistral.ai", "deepseek": "deepseek.com",
    "x-ai": "x.ai", "xai": "x.ai", "cohere": "cohere.com", "qwen": "qwenlm.ai", "microsoft": "microsoft.com",
    "nvidia": "nvidia.com", "amazon": "amazon.com", "perplexity": "perplexity.ai",
}


# ------------------------------------------------------------------ dates


def parse_date(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    """ISO 8601 date or date-time (UTC when no zone), bounded (the layer's one parser). A bare end date means the end
    of that day."""
    return parse_date_param(value, name, end=end)


def date_range(start_date: str | None, end_date: str | None) -> tuple[datetime, datetime]:
    end = parse_date(end_date, "end_date", end=True) or utcnow()
    start = parse_date(start_date, "start_date") or (end - timedelta(days=DEFAULT_RANGE_DAYS - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    if start > end:
        raise BadRequest("start_date is after end_date")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise BadRequest(f"The date range is too long: at most {MAX_RANGE_DAYS} days")
    return start, end


def _day(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d")


def _plain(value: Any) -> Any:
    """DynamoDB values back to JSON-friendly ones (Decimal -> int or float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------ activity


def log_activity(caller: Caller, event_type: str, event_data: dict[str, Any], metadata: dict[str, Any]) -> LogActivityResponse:
    item = activity_dal.put_event(caller.user_id, event_type, event_data, metadata)
    return LogActivityResponse(activity_id=item["id"], timestamp=item["timestamp"])


def _api_call_event(record: dict[str, Any]) -> ActivityEvent:
    return ActivityEvent(
        id=f"usage_{record.get('request_id', '')}",
        event_type="api_call",
        event_data=_plain({
            "model": record.get("model"), "provider": record.get("provider"), "endpoint": record.get("endpoint"),
            "tokens": record.get("total_tokens", 0), "cost": record.get("cost", 0), "currency": record.get("currency"),
            "status": record.get("status"), "latency_ms": record.get("latency_ms", 0),
            "kind": record.get("kind", "request"), "corrects": record.get("corrects"),
        }),
        source="usage",
        timestamp=str(record.get("created_at", "")),
    )


def activity_history(caller: Caller, event_type: str | None, start_date: str | None, end_date: str | None,
                     limit: int, offset: int) -> ActivityHistoryResponse:
    start = parse_date(start_date, "start_date")
    end = parse_date(end_date, "end_date", end=True)
    if start and end and start > end:
        raise BadRequest("start_date is after end_date")
    since = iso(start) if start else "0"
    until = (iso(end) if end else "9") + "\uffff"
    need = offset + limit
    calls: list[Any] = [lambda: activity_dal.logged_events(caller.user_id, event_type, since, until, need)]
    if event_type in (None, "api_call"):
        calls.append(lambda: activity_dal.api_calls(caller.user_id, since, until, need))
    results = run_parallel(calls)
    events = [
        ActivityEvent(id=i["id"], event_type=i["event_type"], event_data=activity_dal.event_json(i, "event_data"),
                      metadata=activity_dal.event_json(i, "metadata"), source="log", timestamp=i["timestamp"])
        for i in results[0][0]
    ]
    total = results[0][1]
    if len(results) > 1:
        events += [_api_call_event(r) for r in results[1][0]]
        total += results[1][1]
    events.sort(key=lambda e: e.timestamp, reverse=True)
    return ActivityHistoryResponse(data=events[offset:offset + limit], total=total, limit=limit, offset=offset)


def _period_key(day: str, group_by: str) -> str:
    if group_by == "month":
        return day[:7]
    if group_by == "week":
        d = date.fromisoformat(day)
        return (d - timedelta(days=d.weekday())).isoformat()
    return day


def activity_stats(caller: Caller, start_date: str | None, end_date: str | None, group_by: str) -> ActivityStatistics:
    start, end = date_range(start_date, end_date)
    first, last = _day(start), _day(end)
    scope, currency = f"user#{caller.user_id}", caller.user.currency
    by_day_totals, by_model_days = run_parallel([
        lambda: rollups.days(scope, first, last),
        lambda: rollups.breakdown(scope, "model", first, last),
    ])
    grouped: dict[str, rollups.Totals] = {}
    total = rollups.Totals()
    for day, totals in sorted(by_day_totals.items()):
        grouped.setdefault(_period_key(day, group_by), rollups.Totals()).add(totals)
        total.add(totals)
    by_model: dict[str, int] = {}
    for models in by_model_days.values():
        for model, totals in models.items():
            by_model[model] = by_model.get(model, 0) + totals.requests
    return ActivityStatistics(
        total_requests=total.requests,
        total_tokens=total.total_tokens,
        total_cost=total.cost_in(currency),
        currency=currency,
        cost_by_currency=dict(sorted(total.cost.items())),
        average_tokens_per_request=round(total.total_tokens / total.requests, 2) if total.requests else 0.0,
        by_model=dict(sorted(by_model.items(), key=lambda kv: (-kv[1], kv[0]))),
        by_day=[PeriodStats(date=k, requests=t.requests, tokens=t.total_tokens, cost=t.cost_in(currency),
                            cost_by_currency=dict(sorted(t.cost.items())))
                for k, t in sorted(grouped.items())],
        group_by=group_by,
        start_date=iso(start),
        end_date=iso(end),
    )


# ------------------------------------------------------------------ rankings


def format_tokens(count: int) -> str:
    """8_200_000_000 -> '8.2B tokens' (one decimal, trailing .0 dropped)."""
    for size, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if count >= size:
            text = f"{count / size:.1f}".removesuffix(".0")
            return f"{text}{suffix} tokens"
    return f"{count} tokens"


def _author(model_id: str) -> str:
    return model_id.split("/", 1)[0].lower() if "/" in model_id else ""


def logo_url(author: str) -> str | None:
    if not author:
        return None
    domain = AUTHOR_DOMAINS.get(author, f"{author}.com")
    return f"https://www.google.com/s2/favicons?domain={domain}&sz=128"


def model_ranking(limit: int, offset: int) -> RankingResponse:
    """Models by tokens over the last 7 days (global rollups), with the trend against the 7 days before."""
    today = utcnow().date()
    week_start, previous_start = today - timedelta(days=6), today - timedelta(days=13)
    days = rollups.breakdown("global", "model", previous_start.isoformat(), today.isoformat())
    current: dict[str, rollups.Totals] = {}
    previous: dict[str, rollups.Totals] = {}
    for day, models in days.items():
        target = current if day >= week_start.isoformat() else previous
        for model, totals in models.items():
            target.setdefault(model, rollups.Totals()).add(totals)
    def billed(totals: rollups.Totals) -> int:  # sandbox (test key) tokens do not rank a model: they cost nothing
        return totals.total_tokens - totals.sandbox_tokens

    ranked = sorted((m for m, t in current.items() if billed(t) > 0), key=lambda m: (-billed(current[m]), m))
    views = []
    for rank, model in enumerate(ranked, start=1):
        tokens, before = billed(current[model]), billed(previous.get(model, rollups.Totals()))
        if before == 0:
            percentage, direction = 100, "up"
        else:
            change = (tokens - before) * 100 / before
            percentage, direction = round(abs(change)), ("up" if change > 0 else "down" if change < 0 else "flat")
        author = _author(model) or "unknown"
        views.append(RankedModel(
            rank=rank, model_name=model.split("/", 1)[-1], model_id=model, author=author,
            logo_url=logo_url(_author(model)), tokens=format_tokens(tokens), token_count=tokens,
            requests=current[model].requests - current[model].sandbox_requests, trend_percentage=f"{percentage}%",
            trend_direction=direction,
        ))
    page = views[offset:offset + limit]
    return RankingResponse(data=page, count=len(page), total=len(views),
                           has_logo_urls=all(v.logo_url for v in page))


# ------------------------------------------------------------------ admin


def monitor() -> MonitorResponse:
    now = utcnow()
    first_hour = (now - timedelta(hours=23)).strftime("%Y-%m-%dT%H")
    started = time.perf_counter()
    try:
        db.table(rollups.ROLLUPS).get_item(Key={"pk": "global", "sk": "all"})
        database = DatabaseStatus(status="connected", response_time=round((time.perf_counter() - started) * 1000, 2))
    except Exception:  # noqa: BLE001 - the monitor reports a failing database instead of failing itself
        return MonitorResponse(
            system=SystemStatus(status="degraded", uptime=int(now_ts() - STARTED_AT), active_users=0, total_requests=0),
            database=DatabaseStatus(status="error", response_time=round((time.perf_counter() - started) * 1000, 2)),
            rollups=RollupStatus(last_run_at=None, lag_seconds=None),
            timestamp=iso_now(),
        )
    users, all_time, status = run_parallel([
        lambda: rollups.active_users(first_hour, now.strftime("%Y-%m-%dT%H")),
        lambda: rollups.get_row("global", "all"),
        lambda: db.table("StreamCheckpointsTable").get_item(Key={"shard_id": "job#rollup"}).get("Item") or {},
    ])
    return MonitorResponse(
        system=SystemStatus(status="healthy", uptime=int(time.time() - STARTED_AT), active_users=len(users),
                            total_requests=all_time.requests),
        database=database,
        rollups=RollupStatus(last_run_at=status.get("last_run_at"),
                             lag_seconds=float(status["lag_seconds"]) if "lag_seconds" in status else None,
                             shard_lag={k: float(v) for k, v in (status.get("shard_lag") or {}).items()},
                             complete_until=status.get("complete_until")),
        timestamp=iso_now(),
    )


def _tier(plan_id: str) -> str:
    try:
        return plans.get_plan(plan_id).slug
    except NotFound:
        return f"plan_{plan_id}"


def _by_currency(totals: rollups.Totals) -> dict[str, CurrencyFigures]:
    return {c: CurrencyFigures(transactions=totals.requests_in(c), revenue=totals.cost_in(c),
                               average_transaction_value=totals.average_in(c)) for c in totals.currencies}


def _count_revenue(totals: rollups.Totals, currency: str) -> CountRevenue:
    return CountRevenue(count=totals.requests, revenue=totals.cost_in(currency), credits=totals.total_tokens,
                        by_currency=_by_currency(totals))


def transaction_analytics(start_date: str | None, end_date: str | None, user_id: str | None, model: str | None,
                          provider: str | None, currency: str) -> TransactionAnalytics:
    filters = {k: v for k, v in (("user_id", user_id), ("model", model), ("provider", provider)) if v}
    if len(filters) > 1:
        raise BadRequest("Filter by one of user_id, model or provider at a time (rollups are kept per single dimension)")
    start, end = date_range(start_date, end_date)
    first, last = _day(start), _day(end)
    name, value = next(iter(filters.items()), ("global", ""))
    scope = "global" if name == "global" else f"{'user' if name == 'user_id' else name}#{value}"
    days, models, providers, tiers = run_parallel([
        lambda: rollups.days(scope, first, last),
        lambda: rollups.breakdown(scope, "model", first, last) if name != "model" else {},
        lambda: rollups.breakdown(scope, "provider", first, last) if name != "provider" else {},
        lambda: rollups.breakdown(scope, "plan", first, last),
    ])
    total = rollups.Totals()
    for totals in days.values():
        total.add(totals)

    def summed(breakdown: dict[str, dict[str, rollups.Totals]], rename: Any = str) -> dict[str, CountRevenue]:
        acc: dict[str, rollups.Totals] = {}
        for per_value in breakdown.values():
            for key, totals in per_value.items():
                acc.setdefault(rename(key), rollups.Totals()).add(totals)
        return {k: _count_revenue(t, currency) for k, t in sorted(acc.items(), key=lambda kv: (-kv[1].requests, kv[0]))}

    whole = {value: _count_revenue(total, currency)}
    return TransactionAnalytics(
        total_transactions=total.requests,
        total_revenue=total.cost_in(currency),
        total_credits_used=total.total_tokens,
        average_transaction_value=total.average_in(currency),
        currency=currency,
        currency_transactions=total.requests_in(currency),
        by_currency=_by_currency(total),
        sandbox_transactions=total.sandbox_requests,
        corrections=total.corrections,
        by_model=whole if name == "model" else summed(models),
        by_provider=whole if name == "provider" else summed(providers),
        by_user_tier=summed(tiers, _tier),
        time_series=[TimePoint(date=d, transactions=t.requests, revenue=t.cost_in(currency),
                               revenue_by_currency=dict(sorted(t.cost.items()))) for d, t in sorted(days.items())],
        start_date=iso(start),
        end_date=iso(end),
    )
