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


def _content(content: Any) -> str | list[dict[str, Any]]:
    """Text stays a string; content with images becomes Anthropic blocks (text and image), never silently dropped."""
    if not isinstance(content, list) or not any(isinstance(p, dict) and p.get("type") in IMAGE_PARTS for p in content):
        return message_text(content)
    blocks: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            blocks.append({"type": "text", "text": part})
        elif isinstance(part, dict) and part.get("type") in IMAGE_PARTS:
            block = _image_block(part)
            if block is not None:
                blocks.append(block)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            blocks.append({"type": "text", "text": part["text"]})
    return blocks


def _join(first: str | list[dict[str, Any]], second: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if isinstance(first, str) and isinstance(second, str):
        return first + "\n\n" + second
    as_blocks = [[{"type": "text", "text": c}] if isinstance(c, str) else c for c in (first, second)]
    return as_blocks[0] + as_blocks[1]


def _uses_tools(request: dict[str, Any]) -> bool:
    return bool(request.get("tools") or request.get("functions")) or any(
        m.get("role") in ("tool", "function") or m.get("tool_calls") for m in request.get("messages", []))


def to_messages_request(request: dict[str, Any], upstream_model: str, stream: bool) -> dict[str, Any]:
    """OpenAI chat-completions body -> Anthropic Messages body. Tool calling is not translated: such a request moves
    on to the model's next route (e.g. OpenRouter) instead of reaching Claude with its tools silently dropped."""
    if _uses_tools(request):
        raise ProviderError("anthropic", "tool calling is not translated to Anthropic's Messages API by this gateway "
                                         "(configure an OpenAI-format route for the model, e.g. OpenRouter)")
    system_parts: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in request.get("messages", []):
        role = message.get("role")
        if role in ("system", "developer"):
            system_parts.append(message_text(message.get("content")))
            continue
        content = _content(message.get("content"))
        role = "assistant" if role == "assistant" else "user"
        if messages and messages[-1]["role"] == role:  # Anthropic wants alternating roles
            messages[-1]["content"] = _join(messages[-1]["content"], content)
        else:
            messages.append({"role": role, "content": content})
    body: dict[str, Any] = {
        "model": upstream_model,
        "messages": messages,
        "max_tokens": request.get("max_tokens") or request.get("max_completion_tokens") or DEFAULT_MAX_TOKENS,
        "stream": stream,
    }
    if system_parts:
        body["system"] = "\n\n".join(system_parts)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p")):
        if request.get(ours) is not None:
            body[theirs] = request[ours]
    stop = request.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    return body


def to_chat_completion(data: dict[str, Any], model: str) -> tuple[dict[str, Any], Usage]:
    """Anthropic Messages response -> OpenAI chat.completion (and its usage)."""
    text = "".join(block.get("text", "") for block in data.get("content", []) if block.get("type") == "text")
    raw_usage = data.get("usage") or {}
    usage = Usage(prompt_tokens=int(raw_usage.get("input_tokens") or 0),
                  completion_tokens=int(raw_usage.get("output_tokens") or 0),
                  estimated="input_tokens" not in raw_usage)
    body = {
        "id": "chatcmpl-" + str(data.get("id", "msg")).removeprefix("msg_"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": FINISH_REASONS.get(str(data.get("stop_reason")), "stop")}],
        "usage": usage.as_openai(),
    }
    return body, usage


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
        body, usage = to_chat_completion(response.json(), request.get("model", upstream_model))
    except (ValueError, AttributeError, TypeError):
        raise ProviderError("anthropic", "malformed response body", status=response.status_code, retryable=True) from None
    return Completion(body=body, usage=usage, provider="anthropic", route=f"anthropic:{upstream_model}")


def _chunk(chunk_id: str, model: str, created: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


async def stream(
    config: ProviderConfig, key: str | None, upstream_model: str, request: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """Anthropic streaming events -> OpenAI chunks; the last chunk carries usage (choices empty), as include_usage."""
    http = client()
    model = request.get("model", upstream_model)
    created = int(time.time())
    chunk_id = "chatcmpl-anthropic"
    prompt_tokens = 0
    completion_tokens = 0
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
                    raise StreamBroken(f"anthropic: {message}", prompt_tokens or None)
                raise ProviderError("anthropic", message, retryable=True)
            if kind == "message_start":
                message = event.get("message", {})
                chunk_id = "chatcmpl-" + str(message.get("id", "msg")).removeprefix("msg_")
                usage = message.get("usage") or {}
                prompt_tokens = int(usage.get("input_tokens") or 0)
                completion_tokens = int(usage.get("output_tokens") or 0)
                started = True
                yield _chunk(chunk_id, model, created, {"role": "assistant", "content": ""})
            elif kind == "content_block_delta":
                delta = event.get("delta", {})
                if delta.get("type") == "text_delta":
                    started = True
                    yield _chunk(chunk_id, model, created, {"content": delta.get("text", "")})
            elif kind == "message_delta":
                usage = event.get("usage") or {}
                if "output_tokens" in usage:
                    completion_tokens = int(usage["output_tokens"])
                if usage.get("input_tokens"):
                    prompt_tokens = int(usage["input_tokens"])
                reason = (event.get("delta") or {}).get("stop_reason")
                yield _chunk(chunk_id, model, created, {}, FINISH_REASONS.get(str(reason), "stop"))
            elif kind == "message_stop":
                finished = True
                yield {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                                "total_tokens": prompt_tokens + completion_tokens}}
                return
        if not finished:
            if started:
                raise StreamBroken("anthropic: the stream ended without message_stop", prompt_tokens or None)
            raise ProviderError("anthropic", "the stream ended before any event", retryable=True)
    except httpx.HTTPError as exc:
        if started:
            raise StreamBroken(f"anthropic: the upstream stream broke ({type(exc).__name__})", prompt_tokens or None) from None
        raise _transport_error(exc) from None
    finally:
        await response.aclose()
