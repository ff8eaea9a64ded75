"""Requests, tokens and cost per day per model for the caller (the dashboard's stacked chart), from rollups.

One Query on the caller's ``user#<id>|model`` breakdown partition over the date range: no raw usage is read. Every day
of the range is present (zero days included), so a chart needs no gap filling; models are ordered by requests.
"""

from __future__ import annotations

from datetime import date, timedelta

from gateway_common import rollups
from gateway_common.auth import Caller
from gateway_common.errors import BadRequest
from gateway_common.timeutil import iso

from .logic import _day, date_range
from .schemas import DailyModelsResponse, DailyPoint, ModelDay

MAX_DAYS = 92  # a chart of a quarter at most: the response stays small


def daily_by_model(caller: Caller, start_date: str | None, end_date: str | None) -> DailyModelsResponse:
    start, end = date_range(start_date, end_date)
    first, last = _day(start), _day(end)
    span = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
    if span > MAX_DAYS:
        raise BadRequest(f"The date range is too long for a daily series: at most {MAX_DAYS} days")
    currency = caller.user.currency
    per_day = rollups.breakdown(f"user#{caller.user_id}", "model", first, last)
    requests_by_model: dict[str, int] = {}
    for models in per_day.values():
        for model, totals in models.items():
            requests_by_model[model] = requests_by_model.get(model, 0) + totals.requests
    days = []
    for offset in range(span):
        day = (date.fromisoformat(first) + timedelta(days=offset)).isoformat()
        models = per_day.get(day, {})
        days.append(DailyPoint(date=day, models={
            model: ModelDay(requests=t.requests, tokens=t.total_tokens, cost=t.cost_in(currency))
            for model, t in sorted(models.items(), key=lambda kv: (-kv[1].requests, kv[0]))
        }))
    return DailyModelsResponse(
        currency=currency,
        models=sorted(requests_by_model, key=lambda m: (-requests_by_model[m], m)),
        days=days,
        start_date=iso(start),
        end_date=iso(end),
    )
