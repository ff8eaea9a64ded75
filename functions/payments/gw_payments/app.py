"""Payments function: ASGI app and its Lambda handler."""

from __future__ import annotations

from fastapi import APIRouter
from mangum import Mangum

from gateway_common.web import create_app

from . import billing_routes, routes

router = APIRouter()  # the function's routes (the local runner mounts this router with every other function's)
router.include_router(routes.router)
router.include_router(billing_routes.router)

app = create_app("AI Gateway - payments", [router])
handler = Mangum(app, lifespan="off")
