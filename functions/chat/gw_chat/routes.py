"""HTTP edge of the chat group: OpenAI-compatible AI routes, /api/chat for license keys, chat history."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from gateway_common import catalog, plans
from gateway_common.auth import Caller
from gateway_common.errors import BadRequest, GatewayError
from gateway_common.license_chat import license_model
from gateway_common.schemas import MessageResponse
from gateway_common.web import authorized, client_ip, route_name

from . import (
    embeddings,
    idempotency,
    image_stream,
    logic,
    messages_routes,
    responses_api,
    responses_flow,
    responses_items,
    responses_store,
    sessions,
    streaming,
)
from .schemas import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    CreateSessionRequest,
    CreateSessionResponse,
    DeletedResponse,
    EmbeddingsRequest,
    EmbeddingsResponse,
    ImageGenerateResponse,
    ImageRequest,
    InputItemList,
    LicenseChatRequest,
    LicenseChatResponse,
    OpenAIImagesResponse,
    ResponsesRequest,
    ResponsesResponse,
    SessionDetail,
    SessionList,
    SessionMessage,
    SessionResponse,
    SessionSummary,
)

router = APIRouter()
router.routes.extend(messages_routes.router.routes)  # Anthropic's Messages API (its routes keep their error shape)
SSE_HEADERS = streaming.SSE_HEADERS


async def _admit(request: Request, caller: Caller, **kwargs: Any) -> logic.Call:
    try:
        call = await run_in_threadpool(logic.begin, caller, ip_address=client_ip(request), route=route_name(request),
                                       **kwargs)
    except GatewayError as exc:
        if exc.headers:
            request.state.rate_limit_headers = exc.headers
        raise
    request.state.rate_limit_headers = call.rate_limit_headers
    return call


@router.post("/v1/chat/completions", response_model=ChatCompletionResponse, tags=["chat"],
             summary="OpenAI-compatible chat completion (JSON, or SSE with stream=true)",
             responses={200: {"content": {"text/event-stream": {}}}})
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    session_id: int | None = Query(None, description="append this exchange to one of your chat sessions"),
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", description="replays the stored response, no charge"),
    caller: Caller = authorized("chat", limit="none"),
) -> Any:
    payload = body.model_dump(exclude_none=True)
    try:
        call = await _admit(request, caller, endpoint="/v1/chat/completions", body=payload, session_id=session_id,
                            idempotency_key=idempotency_key)
    except idempotency.Replay as replay:
        headers = {"Idempotent-Replayed": "true"}
        if body.stream:
            include = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(iter(streaming.replay_chunks(replay.response, include)), media_type="text/event-stream",
                                     headers={**SSE_HEADERS, **headers})
        return JSONResponse(replay.response, headers=headers)
    if call.stream:
        target, first, iterator = await logic.open_stream(call)
        relay = streaming.Relay(call, target, first, iterator)
        return StreamingResponse(streaming.chat_sse(relay), media_type="text/event-stream",
                                 headers={**SSE_HEADERS, **logic.gateway_headers(call, target)})
    target, completion, cost = await logic.complete(call)
    return JSONResponse(completion, headers=logic.gateway_headers(call, target, cost))


@router.post("/v1/responses", response_model=ResponsesResponse, tags=["chat"],
             summary="OpenAI Responses API (the real Response object plus output_text; SSE events with stream=true)",
             responses={200: {"content": {"text/event-stream": {}}}})
async def responses(body: ResponsesRequest, request: Request, caller: Caller = authorized("chat", limit="none")) -> Any:
    raw = body.model_dump(exclude_none=True)
    raw["store"] = body.store
    history = None
    if body.previous_response_id:
        history = await run_in_threadpool(responses_store.conversation, caller.user_id, body.previous_response_id)
    translated = responses_api.to_chat_body(raw, history)
    call = await _admit(request, caller, endpoint="/v1/responses", body=translated.chat)
    if call.stream:
        target, first, iterator = await logic.open_stream(call)
        relay = streaming.Relay(call, target, first, iterator)
        return StreamingResponse(responses_flow.sse(relay, raw, translated), media_type="text/event-stream",
                                 headers={**SSE_HEADERS, **logic.gateway_headers(call, target)})
    target, response, cost = await responses_flow.create(call, raw, translated)
    return JSONResponse(response, headers=logic.gateway_headers(call, target, cost))


@router.get("/v1/responses/{response_id}", response_model=ResponsesResponse, tags=["chat"],
            summary="A stored response of yours (store=true, kept 30 days)")
def get_response(response_id: str, caller: Caller = authorized("chat")) -> JSONResponse:
    return JSONResponse(responses_store.get(caller.user_id, response_id))


@router.get("/v1/responses/{response_id}/input_items", response_model=InputItemList, tags=["chat"],
            summary="The input items a stored response of yours was made from")
def response_input_items(
    response_id: str,
    limit: int = Query(20, ge=1, le=100),
    order: Literal["asc", "desc"] = Query("desc"),
    after: str | None = Query(None, max_length=200, description="the page after this item id"),
    caller: Caller = authorized("chat"),
) -> JSONResponse:
    items = responses_store.input_items(caller.user_id, response_id)
    return JSONResponse(responses_items.page(items, limit=limit, order=order, after=after))


@router.delete("/v1/responses/{response_id}", response_model=DeletedResponse, tags=["chat"],
               summary="Delete a stored response of yours")
def delete_response(response_id: str, caller: Caller = authorized("chat")) -> DeletedResponse:
    responses_store.delete(caller.user_id, response_id)
    return DeletedResponse(id=response_id)


@router.post("/v1/embeddings", response_model=EmbeddingsResponse, tags=["embeddings"],
             summary="OpenAI-compatible embeddings (metered like chat; float or base64 vectors)")
async def create_embeddings(
    body: EmbeddingsRequest, request: Request, caller: Caller = authorized("chat", limit="none")
) -> JSONResponse:
    raw = body.model_dump(exclude_none=True)
    entry = catalog.get_model(body.model)
    dimensions = embeddings.check(entry, raw)
    call = await _admit(request, caller, endpoint="/v1/embeddings", body=embeddings.chat_body(entry, raw))
    target, result, cost = await embeddings.create(call, raw, dimensions)
    return JSONResponse(result, headers=logic.gateway_headers(call, target, cost))


async def _images(body: ImageRequest, request: Request, caller: Caller) -> tuple[logic.Call, Any, dict[str, Any], Any]:
    upstream = body.model_dump(exclude_none=True, exclude={"stream", "partial_images"})  # one plain upstream call
    call = await _admit(request, caller, endpoint=request.url.path, body=dict(upstream), images=body.n)
    target, result, cost = await logic.images(call, upstream)
    return call, target, result, cost


@router.post("/images/generate", response_model=ImageGenerateResponse, tags=["images"], summary="Generate images")
async def images_generate(
    body: ImageRequest, request: Request, caller: Caller = authorized("images", limit="none")
) -> JSONResponse:
    if body.stream:
        raise BadRequest("field 'stream': streamed images are answered on /v1/images/generations", param="stream")
    call, target, result, cost = await _images(body, request, caller)
    view = ImageGenerateResponse(created=result["created"], model=call.model, data=result["data"], cost=cost)
    return JSONResponse(view.model_dump(mode="json"), headers=logic.gateway_headers(call, target, cost))


@router.post("/v1/images/generations", response_model=OpenAIImagesResponse, tags=["images"],
             summary="Generate images (OpenAI-shaped; OpenAI's image stream events with stream=true)",
             responses={200: {"content": {"text/event-stream": {}}}})
async def images_generations(
    body: ImageRequest, request: Request, caller: Caller = authorized("images", limit="none")
) -> Any:
    call, target, result, cost = await _images(body, request, caller)
    headers = logic.gateway_headers(call, target, cost)
    if body.stream:
        events = image_stream.events(body.model_dump(exclude_none=True), result, result.get("usage"))
        return StreamingResponse(iter(events), media_type="text/event-stream", headers={**SSE_HEADERS, **headers})
    return JSONResponse(result, headers=headers)


@router.post("/api/chat", response_model=LicenseChatResponse, tags=["license"],
             summary="AI proxy for license keys on AI-included plans (counts against the plan's limits and budget)")
async def license_chat(
    body: LicenseChatRequest, request: Request, caller: Caller = authorized("chat", limit="none")
) -> JSONResponse:
    logic.check_ai_allowed(caller)
    chat: dict[str, Any] = {
        "model": license_model(body.api_provider, body.model),
        "messages": [m.model_dump(exclude_none=True) for m in body.messages],
    }
    if body.max_tokens:
        chat["max_tokens"] = body.max_tokens
    if body.temperature is not None:
        chat["temperature"] = body.temperature
    call = await _admit(request, caller, endpoint="/api/chat", body=chat, extra_windows=plans.endpoint_limits("POST /api/chat"))
    target, completion, cost = await logic.complete(call)
    choices = completion.get("choices") or []
    text = ((choices[0] if choices else {}).get("message") or {}).get("content") or ""
    view = LicenseChatResponse(provider=body.api_provider, model=body.model, response=str(text), choices=choices,
                               usage=completion["usage"], cost_eur=cost, currency=call.reservation.currency)
    return JSONResponse(view.model_dump(mode="json"), headers=logic.gateway_headers(call, target, cost))


# ---------------------------------------------------------------- chat history

def _summary(item: dict[str, Any]) -> SessionSummary:
    return SessionSummary(id=int(item["id"]), name=item["name"], description=item.get("description"),
                          message_count=int(item.get("message_count", 0)), created_at=item["created_at"],
                          updated_at=item["updated_at"])


@router.post("/chat/sessions", response_model=CreateSessionResponse, tags=["chat history"], summary="Create a chat session")
def create_session(body: CreateSessionRequest, caller: Caller = authorized("sessions")) -> CreateSessionResponse:
    item = sessions.create(caller.user_id, body.name, body.description)
    return CreateSessionResponse(session_id=int(item["id"]), name=item["name"], description=item.get("description"),
                                 created_at=item["created_at"])


@router.get("/chat/sessions", response_model=SessionList, tags=["chat history"], summary="Your chat sessions")
def list_sessions(
    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0), caller: Caller = authorized("sessions")
) -> SessionList:
    items, total = sessions.list_sessions(caller.user_id, limit, offset)
    return SessionList(data=[_summary(i) for i in items], count=total)


@router.get("/chat/sessions/{session_id}", response_model=SessionResponse, tags=["chat history"],
            summary="One of your chat sessions, with its messages")
def get_session(session_id: int, caller: Caller = authorized("sessions")) -> SessionResponse:
    item = sessions.get(caller.user_id, session_id)
    messages = [SessionMessage(id=int(m["id"]), role=m["role"], content=m["content"], model=m.get("model"),
                               created_at=m["created_at"]) for m in sessions.messages(caller.user_id, session_id)]
    return SessionResponse(session=SessionDetail(**_summary(item).model_dump(), messages=messages))


@router.delete("/chat/sessions/{session_id}", response_model=MessageResponse, tags=["chat history"],
               summary="Delete one of your chat sessions")
def delete_session(session_id: int, caller: Caller = authorized("sessions")) -> MessageResponse:
    sessions.delete(caller.user_id, session_id)
    return MessageResponse(message="Chat session deleted successfully")
