"""The proxy's rules: admission (limits + reservation in one round trip), the upstream call, settlement.

Critical path of a warm completion: round trip 1 = admission (``admission.admit``: one conditional write of the
account item counting every limit and holding the cost, the reservation marker, and where they apply the key's own
caps, the idempotency claim and the chat-session check, all at once); then the upstream call; round trip 2 = the settle
transaction (hold released, actual cost charged, usage record, stored idempotent response). Nothing else touches
DynamoDB unless ``?session_id=`` asks for history to be written.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from gateway_common import admission, autotopup, catalog, metering, observability, output_cap, trials
from gateway_common.auth import Caller
from gateway_common.catalog import ModelEntry
from gateway_common.errors import BadRequest, Forbidden, GatewayError
from gateway_common.parallel import Step
from gateway_common.providers import routing
from gateway_common.providers.base import Usage, estimate_prompt_tokens, estimate_text_tokens, message_text
from gateway_common.providers.routing import Target
from gateway_common.usage import UsageRecord

from . import idempotency, sessions, shapes

T = TypeVar("T")


@dataclass
class Call:
    caller: Caller
    request_id: str
    endpoint: str
    entry: ModelEntry
    body: dict[str, Any]
    targets: list[Target]
    reservation: metering.Reservation
    rate_limit_headers: dict[str, str]
    started: float = field(default_factory=time.monotonic)
    stream: bool = False
    include_usage: bool = False
    images: int = 0
    session_id: int | None = None
    idem_cid: str | None = None
    ip_address: str | None = None

    @property
    def model(self) -> str:
        return self.entry.id


def prompt_estimate(call: Call) -> int:
    return estimate_prompt_tokens(call.body["messages"], call.body)


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def check_ai_allowed(caller: Caller) -> None:
    if caller.plan.billing_mode == "byok":
        raise Forbidden(
            f"Your plan ({caller.plan.display_name}) does not include the AI proxy: it is bring-your-own-key. Call your "
            "provider with your own key, or upgrade to an AI-included plan (e.g. Pro - AI Inclusa).",
            code="ai_not_included",
        )


def begin(
    caller: Caller,
    *,
    endpoint: str,
    body: dict[str, Any],
    request_id: str | None = None,
    images: int = 0,
    session_id: int | None = None,
    idempotency_key: str | None = None,
    ip_address: str | None = None,
    extra_windows: dict[str, int] | None = None,
    route: str | None = None,
) -> Call:
    """Validate, plan the routes, then admit in ONE parallel round trip (``admission.admit``). Raises
    idempotency.Replay for a replay. ``route`` ('POST /v1/chat/completions') names the route for custom limits."""
    check_ai_allowed(caller)
    trials.check_not_ended(caller.user)
    entry = catalog.get_model(body["model"])
    if images and not entry.is_image:
        raise BadRequest(f"Model '{entry.id}' does not generate images: use e.g. 'openai/dall-e-3'", code="model_not_image")
    if not images and entry.is_image:
        raise BadRequest(f"Model '{entry.id}' is an image model: use POST /v1/images/generations", code="model_is_image")
    admission.check_key_rules(caller, entry.id)
    targets = routing.plan(entry, sandbox_only=caller.is_sandbox, images=bool(images))
    currency = caller.plan.currency
    tokens = 0
    if images:
        max_cost = catalog.image_cost(entry, images, currency)
    else:
        cap = output_cap.normalize(body, entry)  # the upstream can never produce more than what is reserved
        prompt_estimate = estimate_prompt_tokens(body["messages"], body)
        output_cap.check_context(entry, prompt_estimate)
        choices = max(int(body.get("n") or 1), 1)
        tokens = prompt_estimate + cap * choices
        max_cost = catalog.token_cost(entry, prompt_estimate, cap * choices, currency)
    request_id = request_id or new_request_id()
    plan = caller.plan
    if caller.is_sandbox or max_cost <= 0:
        mode: metering.Mode = "free"
    elif plan.billing_mode == "ai_included" and plan.monthly_budget is not None:
        mode = "budget"
    else:
        mode = "credits"
    reservation = metering.Reservation(
        reservation_id=request_id, user_id=caller.user_id, key_id=caller.key.key_id, plan_id=plan.id, mode=mode,
        amount=max_cost if mode != "free" else Decimal("0"), currency=currency, endpoint=endpoint, model=entry.id,
        budget=plan.monthly_budget if mode == "budget" else None, tokens=tokens,
    )
    steps: list[Step] = []
    idem_cid = None
    if idempotency_key is not None:
        idem_cid = idempotency.counter_id(caller.key.key_id, idempotency.validate_key(idempotency_key))
        steps.append(idempotency.claim_step(idem_cid, request_id, idempotency.body_hash(body)))
    if session_id is not None:
        steps.append(sessions.ownership_step(caller.user_id, session_id))
    admitted = admission.admit(caller, reservation, route=route or f"POST {endpoint}", route_limits=extra_windows,
                               extra=steps)
    return Call(
        caller=caller, request_id=request_id, endpoint=endpoint, entry=entry, body=body, targets=targets,
        reservation=reservation, rate_limit_headers=admitted.decision.headers(), stream=bool(body.get("stream")),
        include_usage=bool((body.get("stream_options") or {}).get("include_usage")), images=images,
        session_id=session_id, idem_cid=idem_cid, ip_address=ip_address,
    )


def finish(
    call: Call,
    *,
    target: Target | None,
    usage: Usage,
    status: str,
    http_status: int,
    response: dict[str, Any] | None = None,
    assistant_text: str | None = None,
    failure: routing.Failure | None = None,
) -> Decimal:
    """Settle the call exactly once (cost 0 when it failed or for sandbox keys); returns the cost charged."""
    currency = call.reservation.currency
    if status == "error" or call.caller.is_sandbox:
        cost = Decimal("0")
    elif call.images:
        cost = catalog.image_cost(call.entry, call.images, currency)
    else:
        cost = catalog.token_cost(call.entry, usage.prompt_tokens, usage.completion_tokens, currency,
                                  cached_tokens=usage.cached_tokens, cache_write_tokens=usage.cache_write_tokens)
    record = UsageRecord(
        user_id=call.caller.user_id, request_id=call.request_id, key_id=call.caller.key.key_id, plan_id=call.caller.plan.id,
        endpoint=call.endpoint, model=call.model,
        provider=target.provider if target else failure.provider if failure else "none",
        providers_tried=list(failure.providers_tried) if failure else [],
        error_class=failure.last_error_class if failure else None,
        route=target_route(target), prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens, cost=cost, provider_cost=usage.provider_cost, currency=currency,
        latency_ms=int((time.monotonic() - call.started) * 1000), status=status, http_status=http_status,  # type: ignore[arg-type]
        estimated=usage.estimated, sandbox=bool(target and target.is_sandbox), stream=call.stream,
        ip_address=call.ip_address, created_at=call.reservation.created_at,
    )
    extra: list[dict[str, Any]] = []
    if call.idem_cid:
        if status == "success" and response is not None:
            extra.append(idempotency.store_item(call.idem_cid, call.request_id, response))
        else:
            extra.append(idempotency.release_item(call.idem_cid, call.request_id))
    metering.settle(call.reservation, record, extra)
    observability.ai_call(usage.prompt_tokens, usage.completion_tokens, cost, currency)
    if cost > 0 and call.reservation.mode == "credits":  # only a charge takes the balance below a top-up threshold
        autotopup.after_settle(call.caller.user_id, None, sandbox=call.caller.is_sandbox, hint=call.caller.user)
    if call.session_id is not None and status != "error":
        turn = [{"role": m["role"], "content": message_text(m.get("content"))} for m in call.body["messages"]
                if m.get("role") == "user"][-1:]
        turn.append({"role": "assistant", "content": assistant_text or "", "model": call.model})
        sessions.append(call.caller.user_id, call.session_id, turn)
    return cost


def target_route(target: Target | None) -> str:
    if target is None:
        return ""
    return "sandbox:sandbox" if target.is_sandbox else f"{target.provider}:{target.upstream_model}"


def gateway_headers(call: Call, target: Target, cost: Decimal | None = None) -> dict[str, str]:
    headers = {"X-Gateway-Provider": target.provider, "X-Gateway-Request-Id": call.request_id}
    if cost is not None:
        headers["X-Gateway-Cost"] = f"{cost} {call.reservation.currency.upper()}"
    return headers


async def _settle_on_failure(call: Call, upstream: Awaitable[T]) -> T:
    """Await the upstream call; if it fails in any way, settle at cost 0 (reservation released, error usage record,
    idempotency claim freed) before the error goes on, so nothing stays held until the sweep."""
    try:
        return await upstream
    except Exception as exc:
        status = exc.status_code if isinstance(exc, GatewayError) else 500
        await run_in_threadpool(finish, call, target=None, usage=Usage(), status="error", http_status=status,
                                failure=routing.failure_of(exc))
        if isinstance(exc, GatewayError):  # the id of the usage record, on the error too (a 502 is metered)
            exc.headers = {**exc.headers, "X-Gateway-Request-Id": call.request_id}
        raise


async def complete(call: Call) -> tuple[Target, dict[str, Any], Decimal]:
    """A non-streaming completion: upstream call, settle, the OpenAI chat.completion body."""
    target, completion = await _settle_on_failure(call, routing.complete(call.targets, call.body))
    body = shapes.conform_completion(completion.body, call.model)
    usage = completion.usage
    text = message_text(((body.get("choices") or [{}])[0].get("message") or {}).get("content"))
    if usage.estimated:
        usage = Usage(prompt_estimate(call), estimate_text_tokens(text), usage.provider_cost, True)
    body["usage"] = usage.as_openai()
    cost = await run_in_threadpool(finish, call, target=target, usage=usage, status="success", http_status=200,
                                   response=body, assistant_text=text)
    return target, body, cost


async def images(call: Call, request: dict[str, Any]) -> tuple[Target, dict[str, Any], Decimal]:
    target, result = await _settle_on_failure(call, routing.images(call.targets, request))
    call.images = max(result.images, 1)
    cost = await run_in_threadpool(finish, call, target=target, usage=Usage(), status="success", http_status=200)
    body: dict[str, Any] = {"created": result.created or int(time.time()), "data": result.data}
    if result.usage:
        body["usage"] = result.usage
    return target, body, cost


async def open_stream(call: Call) -> tuple[Target, dict[str, Any], AsyncIterator[dict[str, Any]]]:
    return await _settle_on_failure(call, routing.open_stream(call.targets, call.body))
