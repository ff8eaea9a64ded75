"""HTTP edge of the usage and limits API (seed 003), on the license group's router. Each route has its own
per-minute limit (plans.json endpoint_limits)."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse

from gateway_common.auth import Caller, require_scope
from gateway_common.errors import envelope
from gateway_common.web import authorized, count_endpoint_request

from . import usage_logic as logic
from .routes import router
from .usage_schemas import CurrentUsageResponse, LimitsCheckResponse, UsageHistoryResponse

_BLOCKED: dict[int | str, dict[str, Any]] = {
    402: {"description": "A default /api/chat request would get 402 now (body: the check plus the error envelope)"},
    429: {"description": "A rate window is full (Retry-After says when a request can be made)"},
}


@router.get("/api/usage/current", tags=["usage"], response_model=CurrentUsageResponse, summary="Real-time usage with 80% warnings")
def usage_current(caller: Caller = authorized("usage")) -> CurrentUsageResponse:
    return logic.current_usage(caller)


@router.get("/api/usage/history", tags=["usage"], response_model=UsageHistoryResponse, summary="Daily usage history (from rollups)")
def usage_history(
    days: int = Query(30, ge=1, le=90, description="how many days back, 1-90"),
    provider: str | None = Query(None, min_length=1, max_length=64, description="only this provider, e.g. openai"),
    caller: Caller = authorized("usage"),
) -> UsageHistoryResponse:
    return logic.history(caller, days, provider.strip().lower() if provider else None)


@router.get("/api/limits/check", tags=["usage"], response_model=LimitsCheckResponse, responses=_BLOCKED,
            summary="Would an AI request be admitted now? (does not consume the plan's quota)")
def limits_check(request: Request, caller: Caller = authorized("usage")) -> Any:
    verdict = logic.check_limits(caller)
    refusal = verdict.refusal
    if refusal is None:
        return verdict.body
    body = verdict.body.model_dump(mode="json")
    envelope_body = envelope(refusal.status_code, refusal.message, error_type=refusal.error_type, code=refusal.code)
    return JSONResponse({**body, **envelope_body}, status_code=refusal.status_code, headers=refusal.headers)


@router.get("/api/usage/{license_key}", tags=["usage"], response_model=CurrentUsageResponse,
            summary="Legacy: current usage with the license key in the path")
def usage_legacy(license_key: str, request: Request) -> CurrentUsageResponse:
    caller = logic.caller_for_path_key(license_key.strip())
    request.state.caller = caller
    count_endpoint_request(request, caller)
    require_scope(caller, "read", "usage")  # the same scope as /api/usage/current: the key's place changes nothing
    return logic.current_usage(caller)
