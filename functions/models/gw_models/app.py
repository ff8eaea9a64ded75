"""Models function: ASGI app and its Lambda handler."""

from __future__ import annotations

from mangum import Mangum

from gateway_common.web import create_app

from .routes import router

app = create_app("AI Gateway - models", [router])
handler = Mangum(app, lifespan="off")
