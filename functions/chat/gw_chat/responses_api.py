"""OpenAI Responses API <-> chat completions: the request becomes a chat request, the completion a Response object.

The Response object is OpenAI's (``output`` a list of items, ``created_at``, ``usage.input_tokens``…), plus, for
clients written against the gateway document's example, ``output_text``, ``created`` and ``usage.prompt_tokens`` /
``completion_tokens`` (extra fields OpenAI clients ignore)."""

from __future__ import annotations

import time
from typing import Any

from gateway_common.errors import BadRequest
from gateway_common.providers.base import message_text


def _item_content(content: Any) -> str | list[dict[str, Any]]:
    """Responses content -> chat content: text parts joined; with an ``input_image`` part, chat parts (text and
    ``image_url``) so the image reaches the model instead of being dropped."""
    if not isinstance(content, list):
        return message_text(content)
    parts = [p for p in content if isinstance(p, dict)]
    if not any(p.get("type") == "input_image" for p in parts):
        return "\n".join(str(p.get("text", "")) for p in parts if p.get("type") in ("input_text", "output_text", "text"))
    chat: list[dict[str, Any]] = []
    for part in parts:
        if part.get("type") == "input_image" and isinstance(part.get("image_url"), str):
            chat.append({"type": "image_url", "image_url": {"url": part["image_url"], "detail": part.get("detail", "auto")}})
        elif part.get("type") in ("input_text", "output_text", "text"):
            chat.append({"type": "text", "text": str(part.get("text", ""))})
    return chat


def to_chat_body(body: dict[str, Any]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    raw = body["input"]
    if isinstance(raw, str):
        messages.append({"role": "user", "content": raw})
    else:
        for index, item in enumerate(raw):
            kind = item.get("type", "message")
            if kind != "message" or "role" not in item:
                raise BadRequest(f"field 'input.{index}': only message items (role + content) are supported, got '{kind}'")
            role = item["role"] if item["role"] in ("system", "developer", "user", "assistant") else "user"
            messages.append({"role": role, "content": _item_content(item.get("content"))})
    if not messages:
        raise BadRequest("field 'input': give at least one message")
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    for name in ("max_output_tokens", "max_tokens"):  # both go on: admission keeps the smaller as the one cap
        if body.get(name) is not None:
            chat[name] = body[name]
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    fmt = (body.get("text") or {}).get("format") or body.get("response_format")
    if fmt and fmt.get("type") in ("json_object", "json_schema"):
        if fmt["type"] == "json_schema" and "json_schema" not in fmt:  # Responses' flat shape -> chat's nested shape
            fmt = {"type": "json_schema", "json_schema": {k: v for k, v in fmt.items() if k != "type"}}
        chat["response_format"] = fmt
    return chat


def to_response(completion: dict[str, Any], body: dict[str, Any], model: str) -> dict[str, Any]:
    choice = (completion.get("choices") or [{}])[0]
    text = message_text((choice.get("message") or {}).get("content"))
    usage = completion.get("usage") or {}
    incomplete = choice.get("finish_reason") == "length"
    fmt = (body.get("text") or {}).get("format") or body.get("response_format") or {"type": "text"}
    rid = str(completion.get("id", "resp")).replace("chatcmpl-", "")
    created = int(completion.get("created") or time.time())
    return {
        "id": f"resp_{rid}",
        "object": "response",
        "created_at": created,
        "created": created,
        "status": "incomplete" if incomplete else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "error": None,
        "model": model,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens") or body.get("max_tokens"),
        "output": [{
            "type": "message",
            "id": f"msg_{rid}",
            "status": "incomplete" if incomplete else "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }],
        "output_text": text,
        "parallel_tool_calls": True,
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "tool_choice": "auto",
        "tools": [],
        "text": {"format": fmt},
        "usage": {
            "input_tokens": int(usage.get("prompt_tokens") or 0),
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": int(usage.get("completion_tokens") or 0),
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": int(usage.get("total_tokens") or 0),
            "prompt_tokens": int(usage.get("prompt_tokens") or 0),
            "completion_tokens": int(usage.get("completion_tokens") or 0),
        },
    }
