"""Chat function: ASGI app. In AWS it runs under uvicorn behind the Lambda Web Adapter (response streaming);
``handler`` (Mangum, buffered) remains for ``sam local invoke`` and tests of the Lambda entry point."""

from __future__ import annotations

from mangum import Mangum

from gateway_common.web import create_app

from .routes import router

app = create_app("AI Gateway - chat", [router])
handler = Mangum(app, lifespan="off")
