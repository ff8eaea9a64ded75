"""The Responses API's flow around the chat core: a Response (JSON or OpenAI's stream events), stored on request.

Admission and settlement are the chat ones (``logic.begin`` / ``logic.finish`` through ``logic.complete`` and the
stream relay): a Response is billed exactly as the chat completion it is built from. Stream events follow OpenAI's
sequence: ``response.created``, ``response.in_progress``, per output item ``response.output_item.added`` (then for a
message ``response.content_part.added``, ``response.output_text.delta``…, ``response.output_text.done``,
``response.content_part.done``; for a function call ``response.function_call_arguments.delta``…,
``response.function_call_arguments.done``), ``response.output_item.done``, and ``response.completed`` (or
``response.incomplete``) with usage and its cost. A stream the upstream breaks ends with ``error`` and
``response.failed``, billed for what was produced.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import aclosing
from decimal import Decimal
from typing import Any

from starlette.concurrency import run_in_threadpool

from gateway_common.providers.base import Usage
from gateway_common.providers.routing import Target

from . import logic, responses_api, responses_items, responses_store
from .responses_api import Translated
from .streaming import Relay, sse_event


async def _store(call: logic.Call, raw: dict[str, Any], translated: Translated, completion: dict[str, Any],
                 response: dict[str, Any]) -> None:
    if raw.get("store", True):
        await run_in_threadpool(responses_store.save, call.caller.user_id, response,
                                responses_api.conversation_after(translated, completion),
                                responses_items.from_input(response["id"], raw.get("input")))


async def create(call: logic.Call, raw: dict[str, Any], translated: Translated) -> tuple[Target, dict[str, Any], Decimal]:
    target, completion, cost = await logic.complete(call)
    usage = Usage.from_openai(completion.get("usage")) or Usage()
    rid = responses_api.response_id(call.request_id)
    response = responses_api.to_response(rid, completion, raw, call.model, usage, cost)
    await _store(call, raw, translated, completion, response)
    return target, response, cost


class _Events:
    """Numbered Responses stream events and the output items opened so far."""

    def __init__(self, rid: str) -> None:
        self.rid = rid
        self.suffix = rid.removeprefix("resp_")
        self.sequence = itertools.count()
        self.next_index = 0
        self.text: tuple[int, str] | None = None  # (output index, item id) of the open message item
        self.text_parts: list[str] = []
        self.text_closed = False
        self.tools: dict[int, tuple[int, dict[str, Any]]] = {}  # tool index -> (output index, item)

    def event(self, data: dict[str, Any]) -> bytes:
        data["sequence_number"] = next(self.sequence)
        return sse_event(data["type"], data)

    def open_text(self) -> list[bytes]:
        index, item_id = self.next_index, f"msg_{self.suffix}"
        self.next_index += 1
        self.text = (index, item_id)
        item = {"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []}
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return [self.event({"type": "response.output_item.added", "output_index": index, "item": item}),
                self.event({"type": "response.content_part.added", "item_id": item_id, "output_index": index,
                            "content_index": 0, "part": part})]

    def close_text(self, status: str) -> list[bytes]:
        if self.text is None or self.text_closed:
            return []
        self.text_closed = True
        index, item_id = self.text
        text = "".join(self.text_parts)
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        item = {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": [part]}
        return [self.event({"type": "response.output_text.done", "item_id": item_id, "output_index": index,
                            "content_index": 0, "text": text, "logprobs": []}),
                self.event({"type": "response.content_part.done", "item_id": item_id, "output_index": index,
                            "content_index": 0, "part": part}),
                self.event({"type": "response.output_item.done", "output_index": index, "item": item})]

    def text_delta(self, piece: str) -> list[bytes]:
        out = self.open_text() if self.text is None else []
        assert self.text is not None
        self.text_parts.append(piece)
        index, item_id = self.text
        out.append(self.event({"type": "response.output_text.delta", "item_id": item_id, "output_index": index,
                               "content_index": 0, "delta": piece, "logprobs": []}))
        return out

    def tool_delta(self, call: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        tool_index = int(call.get("index") or 0)
        function = call.get("function") or {}
        if tool_index not in self.tools:
            out.extend(self.close_text("completed"))  # a message item ends where the tool calls begin
            item = {"type": "function_call", "id": f"fc_{self.suffix}_{len(self.tools)}",
                    "call_id": str(call.get("id") or ""), "name": str(function.get("name") or ""), "arguments": "",
                    "status": "in_progress"}
            self.tools[tool_index] = (self.next_index, item)
            self.next_index += 1
            out.append(self.event({"type": "response.output_item.added", "output_index": self.tools[tool_index][0],
                                   "item": dict(item)}))
        index, item = self.tools[tool_index]
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            item["arguments"] += arguments
            out.append(self.event({"type": "response.function_call_arguments.delta", "item_id": item["id"],
                                   "output_index": index, "delta": arguments}))
        return out

    def close_tools(self) -> list[bytes]:
        out = []
        for index, item in self.tools.values():
            item["status"] = "completed"
            out.append(self.event({"type": "response.function_call_arguments.done", "item_id": item["id"],
                                   "name": item["name"], "output_index": index, "arguments": item["arguments"]}))
            out.append(self.event({"type": "response.output_item.done", "output_index": index, "item": dict(item)}))
        return out


async def sse(relay: Relay, raw: dict[str, Any], translated: Translated) -> AsyncIterator[bytes]:
    call = relay.call
    rid = responses_api.response_id(call.request_id)
    events = _Events(rid)
    started = responses_api.skeleton(rid, raw, call.model, relay.created)
    yield events.event({"type": "response.created", "response": started})
    yield events.event({"type": "response.in_progress", "response": started})
    async with aclosing(relay.chunks()) as chunks:
        async for chunk in chunks:
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if isinstance(delta.get("content"), str) and delta["content"]:
                    for data in events.text_delta(delta["content"]):
                        yield data
                for tool_call in delta.get("tool_calls") or []:
                    for data in events.tool_delta(tool_call):
                        yield data
    if relay.error:
        yield events.event({"type": "error", "code": "upstream_stream_broken", "message": relay.error, "param": None})
        failed = responses_api.skeleton(rid, raw, call.model, relay.created, "failed")
        failed["error"] = {"code": "server_error", "message": relay.error}
        failed["usage"] = responses_api.response_usage(relay.usage or Usage(), relay.cost)
        yield events.event({"type": "response.failed", "response": failed})
        return
    completion = relay.completion()
    response = responses_api.to_response(rid, completion, raw, call.model, relay.usage or Usage(), relay.cost)
    status = "incomplete" if response["status"] == "incomplete" else "completed"
    if events.text is None and not events.tools:
        for data in events.open_text():
            yield data
    for data in events.close_text(status):
        yield data
    for data in events.close_tools():
        yield data
    await _store(call, raw, translated, completion, response)
    yield events.event({"type": f"response.{status}", "response": response})
