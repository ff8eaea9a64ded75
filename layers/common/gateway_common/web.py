"""The HTTP edge shared by every function: app factory, error envelope handlers, request ids, rate-limit headers,
and the ``authorized`` dependency that every authenticated route uses."""

from __future__ import annotations  # noqa: I001 (fastapi_loader must come before fastapi)

import secrets
import time
from collections.abc import Sequence
from typing import Any, Literal

from . import fastapi_loader  # noqa: F401 (first: FastAPI's own models then load unbuilt, see that module)
from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__, db, plans, ratelimit
from .auth import Caller, authenticate, cached_caller, require_admin, require_scope
from .errors import GatewayError, envelope
from . import observability
from .observability import logger
from .redaction import install_log_filters

STARTED_AT = time.time()

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer gw_live_… (or any gw_* key)")
_license = APIKeyHeader(name="X-License-Key", auto_error=False, description="A CHA-… license key (or a gw_* key)")

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/json": {"example": envelope(code, text)}}}
    for code, text in (
        (400, "Invalid request data"),
        (401, "Invalid or missing API key"),
        (403, "Insufficient permissions"),
        (404, "Resource not found"),
        (429, "Rate limit exceeded"),
    )
}


def error_response(status_code: int, message: str, *, error_type: str | None = None, code: str | None = None,
                   headers: dict[str, str] | None = None, param: str | None = None) -> JSONResponse:
    return JSONResponse(
        envelope(status_code, message, error_type=error_type, code=code, param=param), status_code=status_code,
        headers=headers,
    )


def _field_path(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors()[:5]:
        loc = err.get("loc", ())
        where = _field_path(loc)
        if loc and loc[0] == "query":
            where = f"query parameter '{'.'.join(str(p) for p in loc[1:])}'"
        elif loc and loc[0] == "path":
            where = f"path parameter '{'.'.join(str(p) for p in loc[1:])}'"
        elif loc and loc[0] == "header":
            where = f"header '{'.'.join(str(p) for p in loc[1:])}'"
        elif err.get("type") == "json_invalid":
            where = "body"
        else:
            where = f"field '{where}'"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(problems)


async def _gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    capture_rate_limit_headers(request, exc.headers)
    return error_response(exc.status_code, exc.message, error_type=exc.error_type, code=exc.code, headers=exc.headers,
                          param=exc.param)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0].get("loc", ()) if exc.errors() else ()
    param = _field_path(first[1:]) if first and first[0] == "body" and len(first) > 1 else None
    return error_response(400, _validation_message(exc), param=param)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    capture_rate_limit_headers(request, getattr(exc, "headers", None))
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "No such endpoint: see /docs for the API"
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


RETRY_AFTER_TRANSIENT = 1  # seconds: DynamoDB throttling and transaction conflicts pass within about that


async def _aws_error(request: Request, exc: Exception) -> JSONResponse:
    """A DynamoDB failure that outlasted botocore's retries: a 503 with Retry-After when it passes (throttling, a
    conflicting transaction, a timeout), else the 500 of any unexpected error."""
    if not db.is_transient(exc):
        return await _unexpected_error(request, exc)
    logger.warning("storage busy", extra={"path": route_name(request), "error": type(exc).__name__})
    # rate-limit headers only if already known: reading the counters now would meet the same throttling
    return error_response(503, "The service is busy right now: retry shortly (nothing was charged twice)",
                          code="storage_busy", headers={"Retry-After": str(RETRY_AFTER_TRANSIENT)})


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", extra={"path": route_name(request)})  # the template: a path may hold a key
    return error_response(500, "Internal server error; the request id in X-Request-Id helps support find it")


class RequestContextMiddleware:
    """Pure ASGI (streaming-safe): request id in logs and response, rate-limit headers set by the auth dependency."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        lambda_context = scope.get("aws.context")
        request_id = (
            getattr(lambda_context, "aws_request_id", None)
            or headers.get(b"x-request-id", b"").decode()[:64]
            or "req_" + secrets.token_hex(8)
        )
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        logger.append_keys(request_id=request_id)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                observability.response(message["status"])
                extra = [(b"x-request-id", request_id.encode())]
                existing = {k.lower() for k, _ in message.get("headers", [])}
                for name, value in (state.get("rate_limit_headers") or {}).items():
                    if name.lower().encode() not in existing:
                        extra.append((name.lower().encode(), value.encode()))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(title: str, routers: Sequence[APIRouter], *, description: str = "") -> FastAPI:
    app = FastAPI(
        title=title,
        version=__version__,
        description=description or "AI API gateway: one OpenAI-compatible endpoint in front of many LLM providers.",
        responses=ERROR_RESPONSES,
        # The gateway observes itself through Powertools (structured logs, EMF metrics); FastAPI's native OpenTelemetry
        # would otherwise look the global tracer, meter and logger providers up on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    for router in routers:
        app.include_router(router)
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientError, _aws_error)
    app.add_exception_handler(BotoCoreError, _aws_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(RequestContextMiddleware)
    install_log_filters()  # Mangum and uvicorn log an unhandled exception's traceback themselves: filtered too
    return app


def route_name(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    return f"{request.method} {path}"


def client_ip(request: Request) -> str | None:
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else None


LimitMode = Literal["endpoint", "none"]


def authorized(
    resource: str,
    *,
    admin: bool = False,
    access: Literal["read", "write"] | None = None,
    limit: LimitMode = "endpoint",
) -> Any:
    """FastAPI dependency: authenticate, check role and scope, count the endpoint's own rate limit.

    ``limit="none"`` is for AI routes, which count the plan's limits together with their credit reservation.
    Their callers are checked on the event loop when the key's lookup is cached (no I/O then): one thread hop fewer
    on the hot path. Anything that reads or writes DynamoDB runs in a worker thread, in one hop.
    """

    def blocking(request: Request, authorization: str | None, license_key: str | None) -> Caller:
        # a write re-reads the calling key (consistent read): a revoked key is refused at once, not after the cache
        # bound; AI routes get the same from admission's own write, which refuses a revoked key
        write = request.method not in ("GET", "HEAD", "OPTIONS")
        caller = authenticate(authorization, license_key, fresh=write and limit != "none")
        request.state.caller = caller
        if limit == "endpoint":  # counted first: a refusal below then answers with this window's headers
            count_endpoint_request(request, caller)
        return _check_caller(caller, admin, access, resource, request.method)

    async def dependency(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
        license_key: str | None = Depends(_license),
    ) -> Caller:
        authorization = f"Bearer {bearer.credentials}" if bearer else request.headers.get("authorization")
        caller = cached_caller(authorization, license_key) if limit == "none" else None
        if caller is not None:
            request.state.caller = caller
            return _check_caller(caller, admin, access, resource, request.method)
        return await run_in_threadpool(blocking, request, authorization, license_key)

    return Depends(dependency)


def _check_caller(caller: Caller, admin: bool, access: Literal["read", "write"] | None, resource: str,
                  method: str) -> Caller:
    if admin:
        require_admin(caller)
    require_scope(caller, access or ("read" if method in ("GET", "HEAD") else "write"), resource)
    return caller


def count_endpoint_request(request: Request, caller: Caller) -> None:
    """The endpoint's own windows, per account (every key of the account shares them), one conditional write."""
    name = route_name(request)
    windows = plans.endpoint_limits(name)
    override = caller.user.rate_limit_override
    if override and name in override.custom_limits:
        windows["minute"] = override.custom_limits[name]
    request.state.rate_limit_scope = ("ep:" + name, windows)
    decision = ratelimit.count(caller.user_id, "ep:" + name, windows)  # a 429 carries its own headers
    request.state.rate_limit_headers = decision.headers()


def capture_rate_limit_headers(request: Request, answered: dict[str, str] | None = None) -> None:
    """The one place an authenticated error response gets its rate-limit headers when the code that refused did not
    set them (402 budget, 403 scope/admin/BYOK, 404 unknown session, any refusal before or inside admission): the
    caller's current window (the endpoint's own, or the plan's AI windows) is read, not counted (one GetItem)."""
    state = request.state
    caller = getattr(state, "caller", None)
    present = {**(getattr(state, "rate_limit_headers", None) or {}), **(answered or {})}
    if caller is None or any(name.lower() == "x-ratelimit-limit" for name in present):
        return
    try:
        state.rate_limit_headers = _current_window(caller, getattr(state, "rate_limit_scope", None)).headers()
    except Exception:  # noqa: BLE001 - the error being answered matters more than its headers
        logger.warning("rate-limit headers unavailable for an error response", extra={"path": route_name(request)})


def _current_window(caller: Caller, endpoint: tuple[str, dict[str, int]] | None) -> ratelimit.Decision:
    """The caller's window as it stands: the endpoint's own counter, or for AI routes the plan's windows on the
    account item (where admission counts them)."""
    if endpoint is not None:
        return ratelimit.peek(caller.user_id, *endpoint)
    from . import account_state, admission

    state = account_state.read(caller.user_id)
    return ratelimit.Decision(admission.plan_windows(caller, state.ts, 0).states(state.item))


def request_meta(request: Request) -> dict[str, str | None]:
    return {"ip_address": client_ip(request), "user_agent": request.headers.get("user-agent")}

