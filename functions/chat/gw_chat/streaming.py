"""Streams: one relay of the upstream's chat chunks that settles exactly once, and the OpenAI chat SSE built on it.

``Relay.chunks()`` yields the upstream's chat.completion.chunk dicts (those with choices, normalized to OpenAI's
schema) and accumulates the text, the tool calls and the finish reason. When the upstream ends it settles the call
(``logic.finish``) *before* it returns, so the last event a surface sends (the chat usage chunk, the Responses
``response.completed``, the Messages ``message_delta``) can carry the cost. Whatever way the stream stops (client
gone, upstream broken) the relay's ``finally`` settles what was produced; a broken upstream leaves ``relay.error`` set
for the surface to send its own error event. Every surface (chat, Responses, Messages) formats the same relay. A settle
that fails once the answer has begun (DynamoDB outlasting botocore's retries) is logged and its hold left to the
reservation sweep: the stream still ends with its last event.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from decimal import Decimal
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool

from gateway_common import db
from gateway_common.observability import logger
from gateway_common.providers import routing
from gateway_common.providers.base import StreamBroken, Usage, estimate_text_tokens
from gateway_common.providers.routing import Target

from . import logic, shapes

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_data(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def sse_event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\n".encode() + sse_data(data)


class Relay:
    def __init__(self, call: logic.Call, target: Target, first: dict[str, Any],
                 iterator: AsyncIterator[dict[str, Any]]) -> None:
        self.call = call
        self.target = target
        self.first = first
        self.iterator = iterator
        self.chunk_id: str = str(first.get("id") or "chatcmpl-" + call.request_id)
        self.created: int = int(first.get("created") or time.time())
        self.text: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.stop_sequence: str | None = None  # the Anthropic adapter's: which stop sequence ended the answer
        self.thinking: dict[int, dict[str, Any]] = {}  # Claude's thinking blocks by number (text, signature, data)
        self.usage: Usage | None = None
        self.cost: Decimal | None = None
        self.error: str | None = None
        self.settled = False

    @property
    def content(self) -> str:
        return "".join(self.text)

    def _absorb(self, chunk: dict[str, Any]) -> None:
        usage = Usage.from_openai(chunk.get("usage"))
        if usage is not None:
            self.usage = usage
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                self.text.append(delta["content"])
            for piece in delta.get("thinking_blocks") or []:
                block = self.thinking.setdefault(int(piece.get("index") or 0), {"type": piece.get("type", "thinking")})
                for name in ("thinking", "signature", "data"):
                    if isinstance(piece.get(name), str):
                        block[name] = (block.get(name, "") + piece[name]) if name == "thinking" else piece[name]
            for call in delta.get("tool_calls") or []:
                slot = self.tool_calls.setdefault(int(call.get("index") or 0),
                                                  {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
                if call.get("id"):
                    slot["id"] = call["id"]
                function = call.get("function") or {}
                if function.get("name"):
                    slot["function"]["name"] = function["name"]
                if isinstance(function.get("arguments"), str):
                    slot["function"]["arguments"] += function["arguments"]
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            if choice.get("stop_sequence"):
                self.stop_sequence = str(choice["stop_sequence"])

    def completion(self) -> dict[str, Any]:
        """What was streamed, as one chat.completion (stored for idempotent replays; the Responses/Messages views)."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content or None, "refusal": None}
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        elif message["content"] is None:
            message["content"] = ""
        if self.thinking:
            message["thinking_blocks"] = [self.thinking[i] for i in sorted(self.thinking)]
        usage = self.usage or Usage()
        return {"id": self.chunk_id, "object": "chat.completion", "created": self.created, "model": self.call.model,
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": self.finish_reason or "stop"}],
                "usage": usage.as_openai()}

    def _estimate(self) -> Usage:
        produced = (self.content + "".join(c["function"]["arguments"] for c in self.tool_calls.values())
                    + "".join(b.get("thinking", "") for b in self.thinking.values()))  # thinking is output too
        return Usage(logic.prompt_estimate(self.call), estimate_text_tokens(produced), None, True)

    async def _settle(self, status: str, http_status: int) -> None:
        if self.settled:
            return
        self.settled = True
        if self.usage is None:
            self.usage = self._estimate()
        response = self.completion() if status == "success" else None
        # A broken upstream is a failed call attributed to the provider that broke (usage history, analytics).
        failure = routing.Failure((self.target.provider,), "stream_broken") if http_status == 502 else None
        try:
            self.cost = await run_in_threadpool(logic.finish, self.call, target=self.target, usage=self.usage,
                                                status=status, http_status=http_status, response=response,
                                                assistant_text=self.content, failure=failure)
        except Exception as exc:  # noqa: BLE001 - the answer has begun: an exception here would cut it with no end
            # DynamoDB outlasted botocore's retries (or a bug): the hold stays open and the reservation sweep releases
            # it with an error usage record, so balance = ledger - usage still holds; the stream still ends cleanly
            logger.exception("settle failed after the stream started; the sweep releases the hold",
                             extra={"request_id": self.call.request_id, "transient": db.is_transient(exc)})

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        try:
            chunk: dict[str, Any] | None = self.first
            while chunk is not None:
                self._absorb(chunk)
                if chunk.get("choices"):
                    yield shapes.conform_chunk(chunk, self.call.model)
                chunk = await anext(self.iterator, None)
            await self._close_upstream()
            await self._settle("success", 200)
        except StreamBroken as exc:
            if self.usage is None and exc.prompt_tokens:  # the provider counted the prompt before breaking: bill it
                self.usage = Usage(exc.prompt_tokens, self._estimate().completion_tokens, None, True)
            logger.warning("upstream stream broke", extra={"provider": self.target.provider})
            self.error = f"The upstream stream broke before the end: {exc.message}"
            with anyio.CancelScope(shield=True):
                await self._close_upstream()
                await self._settle("partial", 502)
        finally:
            with anyio.CancelScope(shield=True):  # cut short (client gone): bill what was produced, estimated
                if not self.settled:
                    await self._close_upstream()
                    await self._settle("partial", 200)

    async def _close_upstream(self) -> None:
        try:
            await self.iterator.aclose()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - closing a broken upstream must not prevent settling
            logger.debug("closing upstream stream failed")

    def usage_with_cost(self) -> dict[str, Any]:
        usage = (self.usage or Usage()).as_openai()
        if self.cost is not None:
            usage["cost"] = float(self.cost)  # OpenRouter's convention: the charge, in the plan's currency
        return usage


async def chat_sse(relay: Relay) -> AsyncIterator[bytes]:
    """OpenAI chat SSE; with ``stream_options.include_usage`` the last chunk carries usage and its ``cost``."""
    call = relay.call
    async with aclosing(relay.chunks()) as chunks:
        async for chunk in chunks:
            yield sse_data(chunk)
    if relay.error:
        yield sse_data({"error": {"message": relay.error, "type": "api_error", "param": None,
                                  "code": "upstream_stream_broken"}})
        return
    if call.include_usage:
        yield sse_data({"id": relay.chunk_id, "object": "chat.completion.chunk", "created": relay.created,
                        "model": call.model, "choices": [], "usage": relay.usage_with_cost()})
    yield b"data: [DONE]\n\n"


def replay_chunks(stored: dict[str, Any], include_usage: bool) -> list[bytes]:
    """A stored completion replayed as a stream (Idempotency-Key on a streaming request)."""
    base = {"id": stored.get("id"), "object": "chat.completion.chunk", "created": stored.get("created"),
            "model": stored.get("model")}
    choice = (stored.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
    if message.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
    out = [sse_data({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]}),
           sse_data({**base, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                          "finish_reason": choice.get("finish_reason", "stop")}]})]
    if include_usage and stored.get("usage"):
        out.append(sse_data({**base, "choices": [], "usage": stored["usage"]}))
    out.append(b"data: [DONE]\n\n")
    return out
