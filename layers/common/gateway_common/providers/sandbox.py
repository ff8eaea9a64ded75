"""The built-in sandbox model: deterministic replies with token counts, streamed in chunks, real PNG images.

Test/dev keys always get it; locally, a provider with no credentials is served by it (``X-Gateway-Provider: sandbox``).
One "token" of a sandbox reply is one word, so counts are exact and predictable in tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

from .base import Completion, ImageResult, Usage, estimate_prompt_tokens, message_text

CHUNK_WORDS = 3


def reply_words(request: dict[str, Any]) -> list[str]:
    messages = request.get("messages") or []
    last_user = next((message_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    digest = hashlib.sha256(last_user.encode()).hexdigest()[:8]
    words = ["Sandbox", "reply", f"{digest}:", *last_user.split()[:40]]
    limit = request.get("max_tokens") or request.get("max_completion_tokens")
    if limit:
        words = words[: max(int(limit), 1)]
    return words


def _text(request: dict[str, Any], words: list[str]) -> str:
    text = " ".join(words)
    fmt = request.get("response_format") or {}
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        return json.dumps({"reply": text})
    return text


def _finish(request: dict[str, Any], words: list[str]) -> str:
    limit = request.get("max_tokens") or request.get("max_completion_tokens")
    return "length" if limit and len(words) >= int(limit) else "stop"


def usage_for(request: dict[str, Any], words: list[str]) -> Usage:
    return Usage(prompt_tokens=estimate_prompt_tokens(request.get("messages") or []), completion_tokens=len(words))


async def complete(request: dict[str, Any]) -> Completion:
    words = reply_words(request)
    usage = usage_for(request, words)
    body = {
        "id": "chatcmpl-sandbox-" + hashlib.sha256(" ".join(words).encode()).hexdigest()[:12],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "gateway/sandbox"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": _text(request, words)},
                     "finish_reason": _finish(request, words)}],
        "usage": usage.as_openai(),
    }
    return Completion(body=body, usage=usage, provider="sandbox", route="sandbox:sandbox")


async def stream(request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    words = reply_words(request)
    usage = usage_for(request, words)
    text = _text(request, words)
    model = request.get("model", "gateway/sandbox")
    created = int(time.time())
    chunk_id = "chatcmpl-sandbox-" + hashlib.sha256(text.encode()).hexdigest()[:12]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    pieces = text.split(" ")
    for start in range(0, len(pieces), CHUNK_WORDS):
        part = " ".join(pieces[start:start + CHUNK_WORDS])
        yield chunk({"content": part if start == 0 else " " + part})
    yield chunk({}, _finish(request, words))
    yield {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
           "usage": usage.as_openai()}


def png(seed: str, size: int = 16) -> bytes:
    """A real, valid PNG: a size x size image in a colour derived from the seed."""
    r, g, b = hashlib.sha256(seed.encode()).digest()[:3]
    row = b"\x00" + bytes([r, g, b]) * size
    raw = row * size

    def block(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + block(b"IHDR", header) + block(b"IDAT", zlib.compress(raw)) + block(b"IEND", b"")


async def images(request: dict[str, Any]) -> ImageResult:
    count = int(request.get("n") or 1)
    prompt = str(request.get("prompt", ""))
    data = []
    for i in range(count):
        b64 = base64.b64encode(png(f"{prompt}#{i}")).decode()
        item: dict[str, Any] = {"revised_prompt": prompt}
        if request.get("response_format") == "b64_json":
            item["b64_json"] = b64
        else:
            item["url"] = "data:image/png;base64," + b64
        data.append(item)
    return ImageResult(data=data, images=count, provider="sandbox", route="sandbox:sandbox", created=int(time.time()))
