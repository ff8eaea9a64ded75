"""The Anthropic Messages API adapter: OpenAI chat requests in, Messages requests out, and back (streaming too)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from .base import Completion, ProviderError, StreamBroken, Usage, error_message, message_text, raise_for_status
from .config import ProviderConfig
from .http import client

FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
DEFAULT_MAX_TOKENS = 4096
IMAGE_PARTS = ("image_url", "input_image")
FILE_PARTS = ("file", "input_file")
THINKING_BLOCKS = ("thinking", "redacted_thinking")
AUDIO_PARTS = ("input_audio", "audio")
PDF_DATA = "data:application/pdf;base64,"


def _image_block(part: dict[str, Any]) -> dict[str, Any] | None:
    """An OpenAI image part (``image_url`` {url} or a Responses ``input_image``) -> an Anthropic image block."""
    ref = part.get("image_url")
    url = ref.get("url") if isinstance(ref, dict) else ref
    if not isinstance(url, str) or not url:
        return None
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        return {"type": "image", "source": {"type": "base64", "media_type": header[5:].split(";")[0], "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _document_block(part: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI file part holding a PDF as data -> an Anthropic document block. A file id (a file uploaded to OpenAI)
    or another file type cannot reach Anthropic: the route is left for the model's next one."""
    ref = part.get("file") if isinstance(part.get("file"), dict) else part
    data = ref.get("file_data")
    if not (isinstance(data, str) and data.startswith(PDF_DATA)):
        raise ProviderError("anthropic", "only PDF files given as data (file_data) reach Anthropic, not file ids or "
                                         "other file types")
    block: dict[str, Any] = {"type": "document",
                             "source": {"type": "base64", "media_type": "application/pdf", "data": data[len(PDF_DATA):]}}
    if ref.get("filename"):
        block["title"] = str(ref["filename"])[:500]
    return block


def _cached(content: Any) -> bool:
    return isinstance(content, list) and any(isinstance(p, dict) and p.get("cache_control") for p in content)


def _content(content: Any) -> str | list[dict[str, Any]]:
    """Text stays a string; content with images or PDFs becomes Anthropic blocks (text, image, document), never
    silently dropped (audio, file ids: the route is left for the next one);
    text parts marked ``cache_control`` (Anthropic's prompt-cache breakpoints, as OpenRouter also takes them) stay
    blocks that keep the mark."""
    kinds = {p.get("type") for p in content if isinstance(p, dict)} if isinstance(content, list) else set()
    if kinds & set(AUDIO_PARTS):
        raise ProviderError("anthropic", "audio input is not offered by Anthropic's Messages API")
    if not isinstance(content, list) or not (_cached(content) or kinds & {*IMAGE_PARTS, *FILE_PARTS}):
        return message_text(content)
    blocks: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            blocks.append({"type": "text", "text": part})
        elif isinstance(part, dict) and part.get("type") in IMAGE_PARTS:
            block = _image_block(part)
            if block is not None:
                blocks.append(block)
        elif isinstance(part, dict) and part.get("type") in FILE_PARTS:
            blocks.append(_document_block(part))
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            block = {"type": "text", "text": part["text"]}
            if part.get("cache_control"):
                block["cache_control"] = part["cache_control"]
            blocks.append(block)
    return blocks


def _join(first: str | list[dict[str, Any]], second: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if isinstance(first, str) and isinstance(second, str):
        return first + "\n\n" + second
    as_blocks = [[{"type": "text", "text": c}] if isinstance(c, str) else c for c in (first, second)]
    return as_blocks[0] + as_blocks[1]


JSON_TOOL = "json_response"  # structured outputs ride on a forced tool, as Anthropic's documentation suggests


def _json_schema(request: dict[str, Any]) -> dict[str, Any] | None:
    """The schema a response_format asks for (json_object: any object), when no tools are in play."""
    fmt = request.get("response_format")
    if not isinstance(fmt, dict) or request.get("tools"):
        return None
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
    if fmt.get("type") == "json_object":
        return {"type": "object"}
    return None


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except ValueError:
        arguments = {}
    return {"type": "tool_use", "id": str(call.get("id") or ""), "name": str(function.get("name", "")),
            "input": arguments if isinstance(arguments, dict) else {"value": arguments}}


def _as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        out: dict[str, Any] = {"type": "tool", "name": name}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif choice in (None, "auto"):
        out = {"type": "auto"}
    else:
        return None
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


def _translate_messages(request: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system_parts: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for message in request.get("messages", []):
        role = message.get("role")
        if role in ("system", "developer"):
            system_parts.extend(_as_blocks(_content(message.get("content"))))
            continue
        content: str | list[dict[str, Any]]
        if role in ("tool", "function"):
            role = "user"
            content = [{"type": "tool_result", "tool_use_id": str(message.get("tool_call_id") or message.get("name") or ""),
                        "content": _content(message.get("content"))}]  # text, or text and image blocks
        elif role == "assistant" and message.get("tool_calls"):
            content = _as_blocks(_content(message.get("content"))) + [_tool_use(c) for c in message["tool_calls"]]
        else:
            content = _content(message.get("content"))
            role = "assistant" if role == "assistant" else "user"
        if role == "assistant" and message.get("thinking_blocks"):  # Claude's own, signed: resent first, as given
            content = [dict(b) for b in message["thinking_blocks"] if isinstance(b, dict)] + _as_blocks(content)
        if messages and messages[-1]["role"] == role:  # Anthropic wants alternating roles
            messages[-1]["content"] = _join(messages[-1]["content"], content)
        else:
            messages.append({"role": role, "content": content})
    return system_parts, messages


def to_messages_request(request: dict[str, Any], upstream_model: str, stream: bool) -> dict[str, Any]:
    """OpenAI chat-completions body -> Anthropic Messages body: messages, system, tools and tool_choice, tool calls
    (``tool_use`` blocks) and tool results (``tool_result`` blocks); ``response_format`` json_schema becomes a forced
    ``json_response`` tool whose input is the JSON document. ``n`` > 1 has no Anthropic equivalent: that request
    moves on to the model's next route."""
    if int(request.get("n") or 1) > 1:
        raise ProviderError("anthropic", "n > 1 (several choices) is not offered by Anthropic's Messages API")
    system_parts, messages = _translate_messages(request)
    body: dict[str, Any] = {
        "model": upstream_model,
        "messages": messages,
        "max_tokens": request.get("max_tokens") or request.get("max_completion_tokens") or DEFAULT_MAX_TOKENS,
        "stream": stream,
    }
    if system_parts:
        cached = any(block.get("cache_control") for block in system_parts)
        body["system"] = system_parts if cached else "\n\n".join(str(b.get("text", "")) for b in system_parts)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p")):
        if request.get(ours) is not None:
            body[theirs] = request[ours]
    stop = request.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = [t.get("function") or {} for t in request.get("tools") or [] if isinstance(t, dict)]
    if tools:
        body["tools"] = [{"name": t.get("name", ""), "input_schema": t.get("parameters") or {"type": "object", "properties": {}},
                          **({"description": t["description"]} if t.get("description") else {})} for t in tools]
        choice = _tool_choice(request.get("tool_choice"), request.get("parallel_tool_calls"))
        if choice is not None:
            body["tool_choice"] = choice
    schema = _json_schema(request)
    if schema is not None:
        body["tools"] = [{"name": JSON_TOOL, "description": "Give the answer as this JSON document.", "input_schema": schema}]
        body["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
    if request.get("user"):
        body["metadata"] = {"user_id": str(request["user"])[:256]}
    if isinstance(request.get("thinking"), dict):  # extended thinking (the Messages API's own parameter)
        body["thinking"] = request["thinking"]
    return body


def usage_of(raw: dict[str, Any]) -> Usage:
    """Anthropic usage -> ours: its input_tokens exclude cache reads and writes; our prompt_tokens include them."""
    read = int(raw.get("cache_read_input_tokens") or 0)
    written = int(raw.get("cache_creation_input_tokens") or 0)
    return Usage(prompt_tokens=int(raw.get("input_tokens") or 0) + read + written,
                 completion_tokens=int(raw.get("output_tokens") or 0), estimated="input_tokens" not in raw,
                 cached_tokens=read, cache_write_tokens=written)


def to_chat_completion(data: dict[str, Any], model: str, json_mode: bool = False) -> tuple[dict[str, Any], Usage]:
    """Anthropic Messages response -> OpenAI chat.completion (and its usage)."""
    text = "".join(block.get("text", "") for block in data.get("content", []) if block.get("type") == "text")
    tool_calls = []
    for block in data.get("content", []):
        if block.get("type") != "tool_use":
            continue
        if json_mode and block.get("name") == JSON_TOOL:
            text = json.dumps(block.get("input") or {})
            continue
        tool_calls.append({"id": str(block.get("id", "")), "type": "function",
                           "function": {"name": str(block.get("name", "")), "arguments": json.dumps(block.get("input") or {})}})
    thinking = [block for block in data.get("content", []) if block.get("type") in THINKING_BLOCKS]
    usage = usage_of(data.get("usage") or {})
    finish = FINISH_REASONS.get(str(data.get("stop_reason")), "stop")
    if json_mode and finish == "tool_calls" and not tool_calls:
        finish = "stop"
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not tool_calls else None, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if thinking:  # extra fields, as LiteLLM names them: the Messages API gives the blocks back, signatures included
        message["thinking_blocks"] = thinking
        message["reasoning_content"] = "".join(str(b.get("thinking", "")) for b in thinking)
    body = {
        "id": "chatcmpl-" + str(data.get("id", "msg")).removeprefix("msg_"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish,
                     **_stop_sequence(data.get("stop_reason"), data.get("stop_sequence"))}],
        "usage": usage.as_openai(),
    }
    return body, usage


def _stop_sequence(reason: Any, sequence: Any) -> dict[str, str]:
    """Which stop sequence ended the answer (an extra choice field, OpenAI has none): the Messages API gives it back
    as Claude said it (``stop_reason: stop_sequence``)."""
    return {"stop_sequence": str(sequence)} if reason == "stop_sequence" and sequence else {}


async def _raise_for_status(response: httpx.Response) -> None:
    await raise_for_status("anthropic", response, also_retryable=(529,))  # 529: Anthropic is overloaded


def _transport_error(exc: httpx.HTTPError) -> ProviderError:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    return ProviderError("anthropic", f"{kind}: {type(exc).__name__}", retryable=True)


async def complete(config: ProviderConfig, key: str | None, upstream_model: str, request: dict[str, Any]) -> Completion:
    try:
        response = await client().post(f"{config.url()}/messages", json=to_messages_request(request, upstream_model, False),
                                       headers=config.headers(key))
    except httpx.HTTPError as exc:
        raise _transport_error(exc) from None
    await _raise_for_status(response)
    try:
        body, usage = to_chat_completion(response.json(), request.get("model", upstream_model),
                                         _json_schema(request) is not None)
    except (ValueError, AttributeError, TypeError):
        raise ProviderError("anthropic", "malformed response body", status=response.status_code, retryable=True) from None
    return Completion(body=body, usage=usage, provider="anthropic", route=f"anthropic:{upstream_model}")


def _chunk(chunk_id: str, model: str, created: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


class _StreamState:
    """Anthropic content blocks -> OpenAI deltas: text blocks become content, tool_use blocks tool_calls (numbered in
    order), their input_json_delta pieces the calls' argument deltas; the forced json_response tool becomes content."""

    def __init__(self, chunk_id: str, model: str, created: int, json_mode: bool) -> None:
        self.chunk_id = chunk_id
        self.model = model
        self.created = created
        self.json_mode = json_mode
        self.tools: dict[int, int] = {}  # block index -> tool call index
        self.thinking: dict[int, int] = {}  # block index -> thinking block number
        self.json_blocks: set[int] = set()
        self.usage = Usage()

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return _chunk(self.chunk_id, self.model, self.created, delta, finish)

    def block_start(self, event: dict[str, Any]) -> dict[str, Any] | None:
        block = event.get("content_block") or {}
        index = int(event.get("index") or 0)
        if block.get("type") in THINKING_BLOCKS:
            self.thinking[index] = len(self.thinking)
            if block["type"] == "redacted_thinking":
                return self.chunk({"thinking_blocks": [{"index": self.thinking[index], "type": "redacted_thinking",
                                                        "data": block.get("data", "")}]})
            return None
        if block.get("type") != "tool_use":
            return None
        if self.json_mode and block.get("name") == JSON_TOOL:
            self.json_blocks.add(index)
            return None
        self.tools[index] = len(self.tools)
        return self.chunk({"tool_calls": [{"index": self.tools[index], "id": str(block.get("id", "")), "type": "function",
                                           "function": {"name": str(block.get("name", "")), "arguments": ""}}]})

    def block_delta(self, event: dict[str, Any]) -> dict[str, Any] | None:
        delta = event.get("delta") or {}
        index = int(event.get("index") or 0)
        if delta.get("type") == "text_delta":
            return self.chunk({"content": delta.get("text", "")})
        if delta.get("type") == "thinking_delta" and index in self.thinking:
            piece = str(delta.get("thinking", ""))
            return self.chunk({"reasoning_content": piece, "thinking_blocks": [
                {"index": self.thinking[index], "type": "thinking", "thinking": piece}]})
        if delta.get("type") == "signature_delta" and index in self.thinking:
            return self.chunk({"thinking_blocks": [{"index": self.thinking[index], "type": "thinking",
                                                    "signature": str(delta.get("signature", ""))}]})
        if delta.get("type") == "input_json_delta":
            piece = str(delta.get("partial_json", ""))
            if index in self.json_blocks:
                return self.chunk({"content": piece})
            if index in self.tools:
                return self.chunk({"tool_calls": [{"index": self.tools[index], "function": {"arguments": piece}}]})
        return None

    def finish_reason(self, reason: Any) -> str:
        finish = FINISH_REASONS.get(str(reason), "stop")
        return "stop" if finish == "tool_calls" and not self.tools else finish


async def stream(
    config: ProviderConfig, key: str | None, upstream_model: str, request: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """Anthropic streaming events -> OpenAI chunks; the last chunk carries usage (choices empty), as include_usage."""
    http = client()
    state = _StreamState("chatcmpl-anthropic", request.get("model", upstream_model), int(time.time()),
                         _json_schema(request) is not None)
    started = False
    finished = False
    try:
        req = http.build_request("POST", f"{config.url()}/messages", json=to_messages_request(request, upstream_model, True),
                                 headers=config.headers(key))
        response = await http.send(req, stream=True)
    except httpx.HTTPError as exc:
        raise _transport_error(exc) from None
    try:
        await _raise_for_status(response)
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            try:
                event = json.loads(line[5:].strip())
            except ValueError:
                continue
            kind = event.get("type")
            if kind == "error":
                message = error_message(event, "stream error")
                if started:
                    raise StreamBroken(f"anthropic: {message}", state.usage.prompt_tokens or None)
                raise ProviderError("anthropic", message, retryable=True)
            out: dict[str, Any] | None = None
            if kind == "message_start":
                message = event.get("message", {})
                state.chunk_id = "chatcmpl-" + str(message.get("id", "msg")).removeprefix("msg_")
                state.usage = usage_of(message.get("usage") or {})
                out = state.chunk({"role": "assistant", "content": ""})
            elif kind == "content_block_start":
                out = state.block_start(event)
            elif kind == "content_block_delta":
                out = state.block_delta(event)
            elif kind == "message_delta":
                usage = event.get("usage") or {}
                if "output_tokens" in usage:
                    state.usage.completion_tokens = int(usage["output_tokens"])
                if usage.get("input_tokens"):
                    fresh = usage_of({**usage, "output_tokens": state.usage.completion_tokens})
                    state.usage = fresh
                delta = event.get("delta") or {}
                out = state.chunk({}, state.finish_reason(delta.get("stop_reason")))
                out["choices"][0].update(_stop_sequence(delta.get("stop_reason"), delta.get("stop_sequence")))
            elif kind == "message_stop":
                finished = True
                yield {"id": state.chunk_id, "object": "chat.completion.chunk", "created": state.created,
                       "model": state.model, "choices": [], "usage": state.usage.as_openai()}
                return
            if out is not None:
                started = True
                yield out
        if not finished:
            if started:
                raise StreamBroken("anthropic: the stream ended without message_stop", state.usage.prompt_tokens or None)
            raise ProviderError("anthropic", "the stream ended before any event", retryable=True)
    except httpx.HTTPError as exc:
        if started:
            raise StreamBroken(f"anthropic: the upstream stream broke ({type(exc).__name__})",
                               state.usage.prompt_tokens or None) from None
        raise _transport_error(exc) from None
    finally:
        await response.aclose()
