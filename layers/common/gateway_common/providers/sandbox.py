"""The built-in sandbox model: deterministic replies with token counts, streamed in chunks, real PNG images.

Test/dev keys always get it; locally, a provider with no credentials is served by it (``X-Gateway-Provider: sandbox``).
One "token" of a sandbox reply is one word, so counts are exact and predictable in tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import secrets
import struct
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

from .base import Completion, EmbeddingResult, ImageResult, Usage, estimate_prompt_tokens, message_text

CHUNK_WORDS = 3
TOOL_PIECE_CHARS = 8  # streamed tool-call arguments arrive in pieces this long, as providers send them


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def reply_words(request: dict[str, Any]) -> list[str]:
    messages = request.get("messages") or []
    last_user = next((message_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    digest = hashlib.sha256(last_user.encode()).hexdigest()[:8]
    return ["Sandbox", "reply", f"{digest}:", *last_user.split()[:40]]


def _cap(request: dict[str, Any]) -> int | None:
    limit = request.get("max_tokens") or request.get("max_completion_tokens")
    return max(int(limit), 1) if limit else None


def sample(schema: Any, text: str = "sandbox", root: Any = None, depth: int = 0) -> Any:
    """A value that conforms to a JSON schema (the subset structured outputs use: objects, arrays, scalars, enum,
    const, anyOf/oneOf/allOf, $ref to $defs/definitions); the first string gets ``text``."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 12:
        return None
    if "$ref" in schema:
        target: Any = root
        for part in str(schema["$ref"]).lstrip("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return sample(target, text, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = [o for o in schema[key] if not (isinstance(o, dict) and o.get("type") == "null")] or schema[key]
            return sample(options[0], text, root, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = sample(part, text, root, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        return {name: sample(sub, text, root, depth + 1) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [sample(schema.get("items") or {}, text, root, depth + 1) for _ in range(max(int(schema.get("minItems") or 1), 1))]
    if kind == "integer":
        return int(schema.get("minimum", 0) if schema.get("minimum", 0) > 0 else min(1, schema.get("maximum", 1)))
    if kind == "number":
        low, high = schema.get("minimum", 0), schema.get("maximum", 1)
        return (low + high) / 2
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    formats = {"date-time": "2025-01-01T00:00:00Z", "date": "2025-01-01", "email": "sandbox@example.com",
               "uri": "https://example.com/sandbox", "uuid": "00000000-0000-4000-8000-000000000000"}
    value = formats.get(str(schema.get("format")), text)
    return value.ljust(int(schema.get("minLength") or 0), ".")[: int(schema.get("maxLength") or len(value) + 1000)]


def _forced_tool(request: dict[str, Any]) -> dict[str, Any] | None:
    """The tool to call: the one tool_choice names, the first when it says "required", under "auto" one whose name the
    last user message mentions (a real model answers text otherwise); never once a tool result came back."""
    tools = [t.get("function") or {} for t in request.get("tools") or [] if isinstance(t, dict)]
    messages = request.get("messages") or []
    if not tools or (messages and messages[-1].get("role") == "tool"):
        return None
    choice = request.get("tool_choice") or "auto"
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        return next((t for t in tools if t.get("name") == name), None)
    if choice == "required":
        return tools[0]
    if choice == "auto":
        last_user = next((message_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        return next((t for t in tools if t.get("name") and t["name"] in last_user), None)
    return None


class _Reply:
    """What the sandbox answers to a request: text (or a JSON document), or a tool call, cut at the output cap."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.prompt_tokens = estimate_prompt_tokens(request.get("messages") or [], request)  # (admission refuses
        # a prompt above the model's context window before any route, the sandbox included: output_cap.check_context)
        words = reply_words(request)
        cap = _cap(request)
        self.tool: dict[str, Any] | None = None
        tool = _forced_tool(request)
        fmt = request.get("response_format") or {}
        if tool is not None:
            arguments = json.dumps(sample(tool.get("parameters") or {"type": "object"}, " ".join(words)))
            self.tool = {"id": _new_id("call_"), "type": "function",
                         "function": {"name": tool.get("name", ""), "arguments": arguments}}
            self.text = ""
            self.tokens = max(len(arguments.split()), 1)
            self.finish = "tool_calls"
            return
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema") or {}
            text = json.dumps(sample(schema, " ".join(words)))
        elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
            text = json.dumps({"reply": " ".join(words)})
        else:
            text = " ".join(words)
        pieces = text.split(" ")
        self.finish = "stop"
        if cap is not None and len(pieces) > cap:  # one sandbox token is one word: the cap cuts like a provider's
            pieces = pieces[:cap]
            self.finish = "length"
        self.text = " ".join(pieces)
        self.tokens = len(pieces)

    def usage(self, n: int = 1) -> Usage:
        return Usage(prompt_tokens=self.prompt_tokens, completion_tokens=self.tokens * n)

    def message(self) -> dict[str, Any]:
        if self.tool is not None:
            return {"role": "assistant", "content": None, "refusal": None, "tool_calls": [self.tool]}
        return {"role": "assistant", "content": self.text, "refusal": None}


def _n(request: dict[str, Any]) -> int:
    return max(int(request.get("n") or 1), 1)


async def complete(request: dict[str, Any]) -> Completion:
    reply = _Reply(request)
    n = _n(request)
    usage = reply.usage(n)
    body = {
        "id": _new_id("chatcmpl-sbx"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "gateway/sandbox"),
        "choices": [{"index": i, "message": reply.message(), "logprobs": None, "finish_reason": reply.finish}
                    for i in range(n)],
        "usage": usage.as_openai(),
    }
    return Completion(body=body, usage=usage, provider="sandbox", route="sandbox:sandbox")


async def stream(request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    reply = _Reply(request)
    n = _n(request)
    model = request.get("model", "gateway/sandbox")
    created = int(time.time())
    chunk_id = _new_id("chatcmpl-sbx")

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": i, "delta": delta, "logprobs": None, "finish_reason": finish} for i in range(n)]}

    if reply.tool is not None:
        function = reply.tool["function"]
        yield chunk({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": reply.tool["id"], "type": "function", "function": {"name": function["name"], "arguments": ""}}]})
        arguments = function["arguments"]
        for start in range(0, len(arguments), TOOL_PIECE_CHARS):
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[start:start + TOOL_PIECE_CHARS]}}]})
    else:
        yield chunk({"role": "assistant", "content": ""})
        pieces = reply.text.split(" ")
        for start in range(0, len(pieces), CHUNK_WORDS):
            part = " ".join(pieces[start:start + CHUNK_WORDS])
            yield chunk({"content": part if start == 0 else " " + part})
    yield chunk({}, reply.finish)
    yield {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
           "usage": reply.usage(n).as_openai()}


def embedding_vector(model: str, text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for (model, text): the same input always gets the same vector."""
    raw = hashlib.shake_256(f"{model}\x00{text}".encode()).digest(4 * dimensions)
    values = [v / 2**31 - 1.0 for v in struct.unpack(f"<{dimensions}I", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


async def embeddings(request: dict[str, Any], dimensions: int) -> EmbeddingResult:
    texts = embedding_texts(request.get("input"))
    vectors = [embedding_vector(str(request.get("model", "")), text, dimensions) for text in texts]
    tokens = sum(max(math.ceil(len(text) / 4), 1) for text in texts)
    return EmbeddingResult(vectors=vectors, usage=Usage(prompt_tokens=tokens), provider="sandbox",
                           route="sandbox:sandbox")


def embedding_texts(value: Any) -> list[str]:
    """The inputs of an embeddings request as texts (token-id arrays are rendered as their numbers)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [" ".join(str(v) for v in value)]
    return [v if isinstance(v, str) else " ".join(str(t) for t in v) for v in value or []]


def is_gpt_image(model: str) -> bool:
    """GPT image models return base64 data only (no URLs, no response_format), as OpenAI's do."""
    return model.rsplit("/", 1)[-1].startswith("gpt-image")


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
        if request.get("response_format") == "b64_json" or is_gpt_image(str(request.get("model", ""))):
            item["b64_json"] = b64
        else:
            item["url"] = "data:image/png;base64," + b64
        data.append(item)
    usage = None
    if is_gpt_image(str(request.get("model", ""))):  # token usage, as OpenAI reports it for its GPT image models
        words = len(prompt.split())
        usage = {"input_tokens": words, "output_tokens": 0, "total_tokens": words,
                 "input_tokens_details": {"text_tokens": words, "image_tokens": 0}}
    return ImageResult(data=data, images=count, provider="sandbox", route="sandbox:sandbox", created=int(time.time()),
                       usage=usage)
