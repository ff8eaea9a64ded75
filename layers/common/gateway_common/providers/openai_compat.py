"""The OpenAI-compatible adapter (OpenRouter, Portkey, Featherless, Chutes, OpenAI, DeepSeek)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from .base import (
    Completion,
    EmbeddingResult,
    ImageResult,
    ProviderError,
    StreamBroken,
    Usage,
    error_message,
    message_text,
    raise_for_status,
)
from .config import ProviderConfig
from .http import client


def _usage(raw: Any) -> Usage | None:
    return Usage.from_openai(raw)


def _transport_error(provider: str, exc: httpx.HTTPError) -> ProviderError:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    return ProviderError(provider, f"{kind}: {type(exc).__name__}", retryable=True)


COMPLETION_CAP_MODELS = ("o1", "o3", "o4", "gpt-5")  # OpenAI models that refuse max_tokens for max_completion_tokens


def _cap_field(config: ProviderConfig, upstream_model: str) -> str:
    name = upstream_model.rsplit("/", 1)[-1]
    if config.slug == "openai" and name.startswith(COMPLETION_CAP_MODELS):
        return "max_completion_tokens"
    return "max_tokens"


def _without_thinking(message: Any) -> Any:
    """Claude's signed thinking blocks mean nothing to another provider: they are not sent."""
    if isinstance(message, dict) and ("thinking_blocks" in message or "reasoning_content" in message):
        return {k: v for k, v in message.items() if k not in ("thinking_blocks", "reasoning_content")}
    return message


def _is_image(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") in ("image_url", "file")


def _tool_images_after(messages: list[Any]) -> list[Any]:
    """OpenAI's tool messages carry text only: images and files a tool returned (Anthropic's tool_result blocks, via
    the Messages API) go in one user message right after the run of tool messages, so the model still sees them."""
    out: list[Any] = []
    pending: list[dict[str, Any]] = []
    for message in messages:
        is_tool = isinstance(message, dict) and message.get("role") == "tool"
        if pending and not is_tool:
            out.append({"role": "user", "content": pending})
            pending = []
        content = message.get("content") if is_tool else None
        if isinstance(content, list) and any(_is_image(p) for p in content):
            pending.append({"type": "text", "text": f"(images returned by tool call {message.get('tool_call_id')})"})
            pending.extend(p for p in content if _is_image(p))
            message = {**message, "content": message_text([p for p in content if not _is_image(p)]) or "(images below)"}
        out.append(message)
    if pending:
        out.append({"role": "user", "content": pending})
    return out


def _body(config: ProviderConfig, upstream_model: str, request: dict[str, Any], stream: bool) -> dict[str, Any]:
    """The upstream body: exactly one output cap, the reserved one (``max_tokens``), under the name the model takes."""
    body = {k: v for k, v in request.items() if v is not None and k != "thinking"}  # thinking: Anthropic's own
    body["model"] = upstream_model
    if isinstance(body.get("messages"), list):
        body["messages"] = _tool_images_after([_without_thinking(m) for m in body["messages"]])
    cap = body.pop("max_tokens", None) or body.pop("max_completion_tokens", None)
    body.pop("max_completion_tokens", None)
    if cap:
        body[_cap_field(config, upstream_model)] = cap
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}  # usage is metered from the provider whenever it gives it
    else:
        body.pop("stream_options", None)
    if config.wants_usage_include:
        body["usage"] = {"include": True}
    return body


async def complete(config: ProviderConfig, key: str | None, upstream_model: str, request: dict[str, Any]) -> Completion:
    try:
        response = await client().post(
            f"{config.url()}/chat/completions", json=_body(config, upstream_model, request, False), headers=config.headers(key)
        )
    except httpx.HTTPError as exc:
        raise _transport_error(config.slug, exc) from None
    await raise_for_status(config.slug, response)
    try:
        data = response.json()
        data["choices"]
    except (ValueError, KeyError, TypeError):
        raise ProviderError(config.slug, "malformed response body", status=response.status_code, retryable=True) from None
    usage = _usage(data.get("usage"))
    return Completion(body=data, usage=usage or Usage(estimated=True), provider=config.slug,
                      route=f"{config.slug}:{upstream_model}")


async def stream(
    config: ProviderConfig, key: str | None, upstream_model: str, request: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """Yield chat.completion.chunk dicts. Errors before the first chunk are ProviderError (retryable ones can move to
    another route); a failure after it is StreamBroken."""
    http = client()
    started = False
    try:
        req = http.build_request("POST", f"{config.url()}/chat/completions",
                                 json=_body(config, upstream_model, request, True), headers=config.headers(key))
        response = await http.send(req, stream=True)
    except httpx.HTTPError as exc:
        raise _transport_error(config.slug, exc) from None
    try:
        await raise_for_status(config.slug, response)
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                chunk = json.loads(data)
            except ValueError:
                continue
            if isinstance(chunk, dict) and "error" in chunk and not chunk.get("choices"):
                message = error_message(chunk, "stream error")
                if started:
                    raise StreamBroken(f"{config.slug}: {message}")
                raise ProviderError(config.slug, message, retryable=True)
            started = True
            yield chunk
        if started:
            raise StreamBroken(f"{config.slug}: the stream ended without [DONE]")
        raise ProviderError(config.slug, "the stream ended before any data", retryable=True)
    except httpx.HTTPError as exc:
        if started:
            raise StreamBroken(f"{config.slug}: the upstream stream broke ({type(exc).__name__})") from None
        raise _transport_error(config.slug, exc) from None
    finally:
        await response.aclose()


async def images(config: ProviderConfig, key: str | None, upstream_model: str, request: dict[str, Any]) -> ImageResult:
    body = {k: v for k, v in request.items() if v is not None}
    body["model"] = upstream_model
    if upstream_model.rsplit("/", 1)[-1].startswith("gpt-image"):
        body.pop("response_format", None)  # GPT image models answer b64_json and refuse the parameter
        body.pop("style", None)
    try:
        response = await client().post(f"{config.url()}/images/generations", json=body, headers=config.headers(key))
    except httpx.HTTPError as exc:
        raise _transport_error(config.slug, exc) from None
    await raise_for_status(config.slug, response)
    try:
        data = response.json()
        items = list(data["data"])
    except (ValueError, KeyError, TypeError):
        raise ProviderError(config.slug, "malformed image response", status=response.status_code, retryable=True) from None
    usage = data.get("usage")
    return ImageResult(data=items, images=len(items), provider=config.slug, route=f"{config.slug}:{upstream_model}",
                       created=int(data.get("created") or 0), usage=usage if isinstance(usage, dict) else None)


async def embeddings(config: ProviderConfig, key: str | None, upstream_model: str,
                     request: dict[str, Any]) -> EmbeddingResult:
    """Vectors as floats (asked as floats whatever the client wants: the gateway encodes base64 itself)."""
    body = {k: v for k, v in request.items() if v is not None}
    body["model"] = upstream_model
    body["encoding_format"] = "float"
    try:
        response = await client().post(f"{config.url()}/embeddings", json=body, headers=config.headers(key))
    except httpx.HTTPError as exc:
        raise _transport_error(config.slug, exc) from None
    await raise_for_status(config.slug, response)
    try:
        data = response.json()
        rows = sorted(data["data"], key=lambda row: int(row.get("index", 0)))
        vectors = [[float(x) for x in row["embedding"]] for row in rows]
    except (ValueError, KeyError, TypeError):
        raise ProviderError(config.slug, "malformed embeddings response", status=response.status_code,
                            retryable=True) from None
    raw = data.get("usage") or {}
    usage = (Usage(prompt_tokens=int(raw.get("prompt_tokens") or 0), completion_tokens=0) if "prompt_tokens" in raw
             else Usage(estimated=True))
    return EmbeddingResult(vectors=vectors, usage=usage, provider=config.slug, route=f"{config.slug}:{upstream_model}")


async def list_models(config: ProviderConfig, key: str | None) -> list[dict[str, Any]]:
    try:
        response = await client().get(f"{config.url()}/models", headers=config.headers(key))
    except httpx.HTTPError as exc:
        raise _transport_error(config.slug, exc) from None
    await raise_for_status(config.slug, response)
    data = response.json()
    return list(data.get("data", [])) if isinstance(data, dict) else []


__all__ = ["complete", "embeddings", "images", "list_models", "stream"]
