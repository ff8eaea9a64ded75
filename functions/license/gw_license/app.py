"""License function: ASGI app and its Lambda handler."""

from __future__ import annotations

from mangum import Mangum

from gateway_common.web import create_app

from . import usage_routes  # noqa: F401 - adds the /api/usage/* and /api/limits/check routes to the router
from .routes import router

app = create_app("AI Gateway - license API", [router])
handler = Mangum(app, lifespan="off")
