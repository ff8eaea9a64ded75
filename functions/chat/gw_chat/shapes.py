"""OpenAI's chat schemas, kept: every completion and chunk the gateway returns has the fields the official document
requires (``choices[].logprobs``, ``message.refusal``, a valid ``finish_reason``…), whatever the upstream omitted."""

from __future__ import annotations

from typing import Any

FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "function_call")


def _finish(reason: Any) -> str:
    return reason if reason in FINISH_REASONS else "stop"


def conform_completion(body: dict[str, Any], model: str) -> dict[str, Any]:
    body["model"] = model
    body["object"] = "chat.completion"
    for index, choice in enumerate(body.get("choices") or []):
        choice.setdefault("index", index)
        choice.setdefault("logprobs", None)
        choice["finish_reason"] = _finish(choice.get("finish_reason"))
        message = choice.setdefault("message", {})
        message["role"] = "assistant"
        message.setdefault("content", None)
        message.setdefault("refusal", None)
        if not message.get("tool_calls"):
            message.pop("tool_calls", None)
    return body


def conform_chunk(chunk: dict[str, Any], model: str) -> dict[str, Any]:
    chunk.pop("usage", None)
    chunk["model"] = model
    chunk["object"] = "chat.completion.chunk"
    for index, choice in enumerate(chunk.get("choices") or []):
        choice.setdefault("index", index)
        choice.setdefault("delta", {})
        reason = choice.get("finish_reason")
        choice["finish_reason"] = None if reason is None else _finish(reason)
    return chunk
