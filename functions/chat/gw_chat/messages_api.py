"""Anthropic Messages API <-> chat completions, so Anthropic clients (the SDKs, Claude Code) reach every catalog model.

The Messages request becomes the canonical chat body (system, messages with text/image/tool_use/tool_result blocks,
tools, tool_choice, ``max_tokens`` as the one output cap, stop_sequences…); it then passes the same admission, routes
and settle as a chat completion: Claude models reach Anthropic through the Anthropic adapter, the others their
OpenAI-format providers. The completion comes back as a Messages ``message`` (text and ``tool_use`` blocks,
stop_reason, usage with cache reads/writes); a stream as Anthropic's SSE events (``message_start``,
``content_block_start`` / ``_delta`` / ``_stop``, ``message_delta``, ``message_stop``), built on the chat relay.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from gateway_common.errors import BadRequest
from gateway_common.providers.base import Usage, message_text
from gateway_common.redaction import redact

from .streaming import Relay, sse_event

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                "content_filter": "refusal"}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 502: "api_error",
               503: "overloaded_error", 529: "overloaded_error"}


def error_body(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error shape; like the envelope, the last gate before a client: no credential in the message."""
    return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": redact(message)}}


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return message_text(content)


def _text_part(block: dict[str, Any]) -> dict[str, Any]:
    """A text block as a chat text part; a prompt-cache breakpoint (``cache_control``) stays on it for Claude."""
    part: dict[str, Any] = {"type": "text", "text": str(block.get("text", ""))}
    if block.get("cache_control"):
        part["cache_control"] = block["cache_control"]
    return part


def _image_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
        return {"type": "image_url", "image_url": {"url": url}}
    if source.get("type") == "url":
        return {"type": "image_url", "image_url": {"url": str(source.get("url", ""))}}
    raise BadRequest(f"field '{where}.source': image sources are base64 or url", param=f"{where}.source")


def _tool_message(block: dict[str, Any], where: str) -> dict[str, Any]:
    """A tool_result block -> a chat ``tool`` message; images and PDFs it returns (a screenshot, a file read) stay as
    parts, which each adapter places where its provider takes them."""
    content = block.get("content")
    prefix = "[tool error] " if block.get("is_error") else ""
    message: dict[str, Any] = {"role": "tool", "tool_call_id": str(block.get("tool_use_id", ""))}
    if not (isinstance(content, list) and any(isinstance(b, dict) and b.get("type") in ("image", "document")
                                              for b in content)):
        return {**message, "content": prefix + _text_of(content)}
    parts = [{"type": "text", "text": prefix.strip()}] if prefix else []
    for number, item in enumerate(content):
        if isinstance(item, dict) and item.get("type") == "image":
            parts.append(_image_part(item, f"{where}.content.{number}"))
        elif isinstance(item, dict) and item.get("type") == "document":
            parts.append(_document_part(item, f"{where}.content.{number}"))
        elif isinstance(item, dict) and item.get("type") == "text":
            parts.append({"type": "text", "text": str(item.get("text", ""))})
    return {**message, "content": parts}


def _document_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    """A document block -> a chat part: a base64 PDF as a ``file`` part (Claude gets its document block back), a
    plain-text document as text."""
    source = block.get("source") or {}
    if source.get("type") == "base64" and source.get("media_type") == "application/pdf":
        file = {"file_data": f"data:application/pdf;base64,{source.get('data', '')}"}
        if block.get("title"):
            file["filename"] = str(block["title"])
        return {"type": "file", "file": file}
    if source.get("type") == "text":
        return {"type": "text", "text": str(source.get("data", ""))}
    raise BadRequest(f"field '{where}.source': documents are base64 PDFs or text", param=f"{where}.source")


def _message(index: int, message: dict[str, Any]) -> list[dict[str, Any]]:
    """One Messages message -> chat messages (tool results become ``tool`` messages before the user's text)."""
    role = message.get("role")
    where = f"messages.{index}"
    if role not in ("user", "assistant"):
        raise BadRequest(f"field '{where}.role': 'user' or 'assistant'", param=f"{where}.role")
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise BadRequest(f"field '{where}.content': a string or a list of content blocks", param=f"{where}.content")
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []  # Claude's signed thinking: resent to Claude, dropped for other providers
    for number, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append(_text_part(block))
        elif kind == "image":
            parts.append(_image_part(block, f"{where}.content.{number}"))
        elif kind == "document":
            parts.append(_document_part(block, f"{where}.content.{number}"))
        elif kind == "tool_use" and role == "assistant":
            tool_calls.append({"id": str(block.get("id", "")), "type": "function",
                               "function": {"name": str(block.get("name", "")),
                                            "arguments": json.dumps(block.get("input") or {})}})
        elif kind == "tool_result" and role == "user":
            out.append(_tool_message(block, f"{where}.content.{number}"))
        elif kind in ("thinking", "redacted_thinking") and role == "assistant":
            thinking.append({k: v for k, v in block.items() if k in ("type", "thinking", "signature", "data")})
        else:
            raise BadRequest(f"field '{where}.content.{number}.type': block type '{kind}' is not supported here",
                             param=f"{where}.content.{number}.type")
    if parts or tool_calls or thinking:
        only_text = all(p["type"] == "text" and "cache_control" not in p for p in parts)
        chat: dict[str, Any] = {"role": role,
                                "content": "\n".join(p["text"] for p in parts) if only_text else parts}
        if tool_calls:
            chat["tool_calls"] = tool_calls
            chat["content"] = chat["content"] or None
        if thinking:
            chat["thinking_blocks"] = thinking
        out.append(chat)
    return out


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    chat = []
    for index, tool in enumerate(tools):
        if tool.get("type") not in (None, "custom") or not tool.get("name"):
            raise BadRequest(f"field 'tools.{index}': only client tools (name + input_schema) are supported, not "
                             f"'{tool.get('type')}'", param=f"tools.{index}")
        function: dict[str, Any] = {"name": tool["name"],
                                    "parameters": tool.get("input_schema") or {"type": "object", "properties": {}}}
        if tool.get("description"):
            function["description"] = tool["description"]
        chat.append({"type": "function", "function": function})
    return chat


def _tool_choice(choice: dict[str, Any]) -> tuple[Any, bool | None]:
    kind = choice.get("type")
    parallel = False if choice.get("disable_parallel_tool_use") else None
    if kind == "auto":
        return "auto", parallel
    if kind == "any":
        return "required", parallel
    if kind == "none":
        return "none", None
    if kind == "tool":
        return {"type": "function", "function": {"name": str(choice.get("name", ""))}}, parallel
    raise BadRequest(f"field 'tool_choice.type': auto, any, tool or none, not '{kind}'", param="tool_choice.type")


def to_chat_body(body: dict[str, Any]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if isinstance(system, list) and any(isinstance(b, dict) and b.get("cache_control") for b in system):
        messages.append({"role": "system", "content": [_text_part(b) for b in system  # cache breakpoints kept
                                                       if isinstance(b, dict) and b.get("type") == "text"]})
    elif system:
        messages.append({"role": "system", "content": _text_of(system)})
    for index, message in enumerate(body.get("messages") or []):
        messages.extend(_message(index, message))
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_tokens"):
        chat["max_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("stop_sequences"):
        chat["stop"] = list(body["stop_sequences"])  # all of them reach Claude; OpenAI's models take 4
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"])
        if body.get("tool_choice"):
            choice, parallel = _tool_choice(body["tool_choice"])
            chat["tool_choice"] = choice
            if parallel is not None:
                chat["parallel_tool_calls"] = parallel
    if isinstance(body.get("thinking"), dict):
        chat["thinking"] = body["thinking"]  # extended thinking: Claude takes it, other providers do not get it
    user = (body.get("metadata") or {}).get("user_id")
    if user:
        chat["user"] = str(user)
    if body.get("stream"):
        chat["stream"] = True
    return chat


def message_id(request_id: str) -> str:
    return "msg_" + request_id.removeprefix("req_")


def usage_view(usage: Usage) -> dict[str, Any]:
    """Anthropic's usage: input_tokens without the cache reads and writes, which are counted apart."""
    return {"input_tokens": max(usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens, 0),
            "output_tokens": usage.completion_tokens, "cache_read_input_tokens": usage.cached_tokens,
            "cache_creation_input_tokens": usage.cache_write_tokens}


def to_message(mid: str, completion: dict[str, Any], model: str, usage: Usage) -> dict[str, Any]:
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = [dict(b) for b in message.get("thinking_blocks") or [] if isinstance(b, dict)]
    text = message_text(message.get("content"))
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except ValueError:
            arguments = {}
        content.append({"type": "tool_use", "id": str(call.get("id", "")), "name": str(function.get("name", "")),
                        "input": arguments if isinstance(arguments, dict) else {"value": arguments}})
    return {"id": mid, "type": "message", "role": "assistant", "model": model, "content": content,
            **stop_view(choice.get("finish_reason"), choice.get("stop_sequence")), "usage": usage_view(usage)}


def stop_view(finish_reason: Any, stop_sequence: Any) -> dict[str, Any]:
    """``stop_reason`` and ``stop_sequence`` as Anthropic gives them (stop_sequence when one ended the answer)."""
    if stop_sequence:
        return {"stop_reason": "stop_sequence", "stop_sequence": str(stop_sequence)}
    return {"stop_reason": STOP_REASONS.get(str(finish_reason), "end_turn"), "stop_sequence": None}


class _Blocks:
    """Open content blocks of a Messages stream: text, then one per tool call."""

    def __init__(self) -> None:
        self.next_index = 0
        self.text: int | None = None
        self.tools: dict[int, int] = {}  # chat tool index -> block index
        self.thinking: dict[int, int] = {}  # thinking block number -> block index
        self.open: int | None = None

    def _close(self) -> list[bytes]:
        if self.open is None:
            return []
        index, self.open = self.open, None
        return [sse_event("content_block_stop", {"type": "content_block_stop", "index": index})]

    def text_delta(self, piece: str) -> list[bytes]:
        out: list[bytes] = []
        if self.text is None or self.open != self.text:
            out += self._close()
            self.text = self.open = self.next_index
            self.next_index += 1
            out.append(sse_event("content_block_start", {"type": "content_block_start", "index": self.text,
                                                         "content_block": {"type": "text", "text": ""}}))
        out.append(sse_event("content_block_delta", {"type": "content_block_delta", "index": self.text,
                                                     "delta": {"type": "text_delta", "text": piece}}))
        return out

    def thinking_delta(self, piece: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        number = int(piece.get("index") or 0)
        if number not in self.thinking:
            out += self._close()
            self.thinking[number] = self.open = self.next_index
            self.next_index += 1
            start = ({"type": "redacted_thinking", "data": str(piece.get("data", ""))}
                     if piece.get("type") == "redacted_thinking" else {"type": "thinking", "thinking": "", "signature": ""})
            out.append(sse_event("content_block_start", {"type": "content_block_start", "index": self.open,
                                                         "content_block": start}))
        index = self.thinking[number]
        if piece.get("thinking"):
            out.append(sse_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                         "delta": {"type": "thinking_delta", "thinking": piece["thinking"]}}))
        if piece.get("signature"):
            out.append(sse_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                         "delta": {"type": "signature_delta", "signature": piece["signature"]}}))
        return out

    def tool_delta(self, call: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        tool_index = int(call.get("index") or 0)
        function = call.get("function") or {}
        if tool_index not in self.tools:
            out += self._close()
            self.tools[tool_index] = self.open = self.next_index
            self.next_index += 1
            out.append(sse_event("content_block_start", {"type": "content_block_start", "index": self.open,
                                                         "content_block": {"type": "tool_use", "id": str(call.get("id") or ""),
                                                                           "name": str(function.get("name") or ""),
                                                                           "input": {}}}))
        if function.get("arguments"):
            out.append(sse_event("content_block_delta", {"type": "content_block_delta", "index": self.tools[tool_index],
                                                         "delta": {"type": "input_json_delta",
                                                                   "partial_json": function["arguments"]}}))
        return out

    def finish(self) -> list[bytes]:
        return self._close()


async def sse(relay: Relay, prompt_estimate: int) -> AsyncIterator[bytes]:
    call = relay.call
    mid = message_id(call.request_id)
    yield sse_event("message_start", {"type": "message_start", "message": {
        "id": mid, "type": "message", "role": "assistant", "model": call.model, "content": [], "stop_reason": None,
        "stop_sequence": None, "usage": {"input_tokens": prompt_estimate, "output_tokens": 0}}})
    yield sse_event("ping", {"type": "ping"})
    blocks = _Blocks()
    async with aclosing(relay.chunks()) as chunks:
        async for chunk in chunks:
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                for piece in delta.get("thinking_blocks") or []:
                    for data in blocks.thinking_delta(piece):
                        yield data
                if isinstance(delta.get("content"), str) and delta["content"]:
                    for data in blocks.text_delta(delta["content"]):
                        yield data
                for tool_call in delta.get("tool_calls") or []:
                    for data in blocks.tool_delta(tool_call):
                        yield data
    for data in blocks.finish():
        yield data
    if relay.error:
        yield sse_event("error", error_body(502, relay.error))
        return
    usage = usage_view(relay.usage or Usage())
    if relay.cost is not None:
        usage["cost"] = float(relay.cost)  # the charge, in the plan's currency (extra field, clients ignore it)
    yield sse_event("message_delta", {"type": "message_delta", "delta": stop_view(relay.finish_reason, relay.stop_sequence),
                                      "usage": usage})
    yield sse_event("message_stop", {"type": "message_stop"})
