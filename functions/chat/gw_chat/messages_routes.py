"""HTTP edge of the Anthropic Messages API: POST /v1/messages and /v1/messages/count_tokens.

Auth by ``x-api-key`` (what Anthropic clients send) or ``Authorization: Bearer``; ``anthropic-version`` and
``anthropic-beta`` are accepted. Every error on these routes, including auth and validation, is in Anthropic's shape
(``{"type": "error", "error": {"type", "message"}}``), which the anthropic SDKs parse.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from gateway_common import catalog
from gateway_common.auth import Caller, authenticate, require_scope
from gateway_common.errors import GatewayError
from gateway_common.providers.base import Usage, estimate_prompt_tokens
from gateway_common.web import _validation_message, capture_rate_limit_headers, client_ip, count_endpoint_request

from . import logic, messages_api, streaming
from .schemas import AnthropicMessage, CountTokensRequest, CountTokensResponse, MessagesRequest


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(messages_api.error_body(status, message), status_code=status, headers=headers)


class AnthropicErrorsRoute(APIRoute):
    """Errors raised while serving the route (auth, validation, admission, upstream) in Anthropic's error shape."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except GatewayError as exc:
                if exc.headers:
                    request.state.rate_limit_headers = {**(getattr(request.state, "rate_limit_headers", None) or {}),
                                                        **exc.headers}
                capture_rate_limit_headers(request, exc.headers)  # a refusal carries the window, as on every route
                return _error(exc.status_code, exc.message, exc.headers)
            except RequestValidationError as exc:
                return _error(400, _validation_message(exc))
            except StarletteHTTPException as exc:
                capture_rate_limit_headers(request, getattr(exc, "headers", None))
                return _error(exc.status_code, str(exc.detail))

        return handle


router = APIRouter(route_class=AnthropicErrorsRoute)


def anthropic_caller(
    request: Request,
    x_api_key: str | None = Header(None, alias="x-api-key", description="your gw_* key (or Authorization: Bearer)"),
    authorization: str | None = Header(None),
    anthropic_version: str | None = Header(None, alias="anthropic-version", description="accepted, e.g. 2023-06-01"),
) -> Caller:
    del anthropic_version
    caller = authenticate(authorization if authorization else None, x_api_key)
    request.state.caller = caller
    require_scope(caller, "write", "chat")
    return caller


@router.post("/v1/messages", response_model=AnthropicMessage, tags=["anthropic"],
             summary="Anthropic Messages API over every catalog model (JSON, or Anthropic SSE with stream=true)",
             responses={200: {"content": {"text/event-stream": {}}}})
async def messages(body: MessagesRequest, request: Request, caller: Caller = Depends(anthropic_caller)) -> Any:
    chat = messages_api.to_chat_body(body.model_dump(exclude_none=True))
    try:
        call = await run_in_threadpool(logic.begin, caller, endpoint="/v1/messages", body=chat,
                                       ip_address=client_ip(request))
    except GatewayError as exc:
        if exc.headers:
            request.state.rate_limit_headers = exc.headers
        raise
    request.state.rate_limit_headers = call.rate_limit_headers
    if call.stream:
        target, first, iterator = await logic.open_stream(call)
        relay = streaming.Relay(call, target, first, iterator)
        return StreamingResponse(messages_api.sse(relay, logic.prompt_estimate(call)), media_type="text/event-stream",
                                 headers={**streaming.SSE_HEADERS, **logic.gateway_headers(call, target)})
    target, completion, cost = await logic.complete(call)
    usage = Usage.from_openai(completion.get("usage")) or Usage()
    message = messages_api.to_message(messages_api.message_id(call.request_id), completion, call.model, usage)
    return JSONResponse(message, headers=logic.gateway_headers(call, target, cost))


@router.post("/v1/messages/count_tokens", response_model=CountTokensResponse, tags=["anthropic"],
             summary="Input tokens of a Messages request (the gateway's estimate, as reserved; nothing is charged)")
def count_tokens(body: CountTokensRequest, request: Request, caller: Caller = Depends(anthropic_caller)) -> CountTokensResponse:
    count_endpoint_request(request, caller)  # free, but not unlimited: the endpoint's own rate limit
    catalog.get_model(body.model)
    chat = messages_api.to_chat_body({**body.model_dump(exclude_none=True), "max_tokens": 1})
    return CountTokensResponse(input_tokens=estimate_prompt_tokens(chat["messages"], chat))
