"""A fake OpenAI-compatible upstream on loopback, in its own process: `POST /v1/chat/completions` answers at once,
JSON or SSE (5 chunks and a usage chunk). Both the gateway and LiteLLM are pointed at it, so what a bench measures
over it is what the proxy adds.

Run alone: `python -m bench.fake_upstream PORT`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

COMPLETION = {
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1741569952, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the fake upstream"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
}
_BASE = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1741569952, "model": "gpt-4o-mini"}
_WORDS = ("Hello", " from", " the", " fake", " upstream")


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


STREAM = b"".join(
    [_sse({**_BASE, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})]
    + [_sse({**_BASE, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}) for w in _WORDS]
    + [_sse({**_BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
       _sse({**_BASE, "choices": [], "usage": COMPLETION["usage"]}), b"data: [DONE]\n\n"]
)
_JSON = json.dumps(COMPLETION).encode()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app (no framework): the upstream should cost as little as possible."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    stream = b'"stream":true' in body.replace(b" ", b"")
    payload, kind = (STREAM, b"text/event-stream") if stream else (_JSON, b"application/json")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", kind), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
