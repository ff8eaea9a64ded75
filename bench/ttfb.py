"""Time to first byte of streamed requests through the gateway, per API surface, over a local fake upstream:
a chat completion stream, a Responses stream and an Anthropic Messages stream, interleaved request by request so
machine noise hits every figure alike, next to the fake upstream's own TTFB and a non-streamed chat completion (whose
first byte is its whole answer).

Run: `.venv/bin/python -m bench.ttfb [requests per surface]`. The fake upstream serves OpenAI's chat SSE and
Anthropic's Messages SSE on 127.0.0.1 (OPENAI_BASE_URL / ANTHROPIC_BASE_URL point the real adapters at it). Each
figure is the time from sending the request to the first body byte, and to the first text delta event (what a user
sees). DynamoDB is moto in-process, so the figures include moto's admission latency.
"""

from __future__ import annotations

import json
import os
import sys
import time
from decimal import Decimal
from typing import Any

import httpx

from bench.harness import local_gateway, percentile
from bench.proxy import TRIM_EVERY, trim_moto_tables

CHAT_CHUNKS = ["Hello", " from", " the", " fake", " upstream"]


def _openai_sse() -> bytes:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1741569952, "model": "gpt-4o-mini"}
    events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    events += [{**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in CHAT_CHUNKS]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**base, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}})
    return ("".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n").encode()


def _anthropic_sse() -> bytes:
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "msg_bench", "type": "message", "role": "assistant", "content": [],
                                              "model": "claude-3-5-haiku-20241022", "stop_reason": None,
                                              "usage": {"input_tokens": 12, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}} for p in CHAT_CHUNKS),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}},
        {"type": "message_stop"},
    ]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def fake_upstream_app():  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from bench.proxy import COMPLETION

    openai_body, anthropic_body = _openai_sse(), _anthropic_sse()

    async def chat(request):  # type: ignore[no-untyped-def]
        if not (await request.json()).get("stream"):
            return JSONResponse(COMPLETION)
        return Response(openai_body, media_type="text/event-stream")

    async def messages(_request):  # type: ignore[no-untyped-def]
        return Response(anthropic_body, media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/v1/messages", messages, methods=["POST"])])


SURFACES: dict[str, tuple[str, dict[str, Any], bytes]] = {
    # name: (path, body, the bytes that mark the first text delta)
    "chat (JSON)": ("/v1/chat/completions", {"model": "openai/gpt-4o-mini", "max_tokens": 32,
                                             "messages": [{"role": "user", "content": "Hello"}]}, b"Hello from"),
    "chat stream": ("/v1/chat/completions", {"model": "openai/gpt-4o-mini", "stream": True, "max_tokens": 32,
                                             "messages": [{"role": "user", "content": "Hello"}]}, b'"content":"Hello"'),
    "Responses stream": ("/v1/responses", {"model": "openai/gpt-4o-mini", "stream": True, "max_output_tokens": 32,
                                           "input": "Hello", "store": False}, b"response.output_text.delta"),
    "Messages stream": ("/v1/messages", {"model": "anthropic/claude-3.5-haiku", "stream": True, "max_tokens": 32,
                                         "messages": [{"role": "user", "content": "Hello"}]}, b"text_delta"),
}


def measure(http: httpx.Client, url: str, headers: dict[str, str], body: dict[str, Any], marker: bytes) -> tuple[float, float]:
    """(ms to the first body byte, ms to the first text delta) of one streamed request, read to its end."""
    start = time.perf_counter()
    first_byte = first_delta = 0.0
    seen = b""
    with http.stream("POST", url, headers=headers, json=body) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            now = (time.perf_counter() - start) * 1000
            first_byte = first_byte or now
            if not first_delta:
                seen += chunk
                if marker in seen:
                    first_delta = now
    return first_byte, first_delta


def main(n: int = 100) -> None:
    os.environ.setdefault("KEY_CACHE_TTL_SECONDS", "30")
    os.environ["OPENAI_API_KEY"] = "sk-bench"
    os.environ["ANTHROPIC_API_KEY"] = "sk-ant-bench"
    for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"), ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    from local import paths

    paths.install()
    from tests.servers import gateway_server

    with gateway_server(fake_upstream_app()) as upstream:
        os.environ["OPENAI_BASE_URL"] = upstream + "/v1"
        os.environ["ANTHROPIC_BASE_URL"] = upstream + "/v1"
        with local_gateway() as (base, keys):
            from gateway_common import ledger

            admin = keys["admin"]  # Enterprise limits, so the run measures the gateway and not refusals
            ledger.credit(user_id=admin["user_id"], amount=Decimal("1000"), entry_id="bench:credits", reason="bench")
            auth = {"Authorization": f"Bearer {admin['key']}"}
            figures: dict[str, list[tuple[float, float]]] = {name: [] for name in ["upstream (direct)", *SURFACES]}
            with httpx.Client(timeout=30) as http:
                for path, body, marker in SURFACES.values():  # warm every path once
                    measure(http, base + path, auth, body, marker)
                for i in range(n):
                    if i % TRIM_EVERY == 0:
                        trim_moto_tables()
                    figures["upstream (direct)"].append(
                        measure(http, upstream + "/v1/chat/completions", {}, SURFACES["chat stream"][1], b'"Hello"'))
                    for name, (path, body, marker) in SURFACES.items():
                        figures[name].append(measure(http, base + path, auth, body, marker))
    print(f"time to first byte / first text delta of streamed requests (n={n} each, interleaved, local fake upstream,"
          " moto in-process):")
    for name, values in figures.items():
        bytes_ = [v[0] for v in values]
        deltas = [v[1] for v in values]
        print(f"  {name:<18} first byte p50 {percentile(bytes_, 50):6.1f} ms  p99 {percentile(bytes_, 99):6.1f} ms | "
              f"first delta p50 {percentile(deltas, 50):6.1f} ms  p99 {percentile(deltas, 99):6.1f} ms")


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:2]])
