"""Chat function: ASGI app. In AWS it runs under uvicorn behind the Lambda Web Adapter (response streaming), so the
Mangum ``handler`` (buffered; ``sam local invoke`` and handler tests) is built on first use, not at import."""

from __future__ import annotations

from typing import Any

from gateway_common.web import create_app

from .routes import router

app = create_app("AI Gateway - chat", [router])
_mangum: Any = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _mangum
    if _mangum is None:
        from mangum import Mangum

        _mangum = Mangum(app, lifespan="off")
    return _mangum(event, context)  # type: ignore[no-any-return]
