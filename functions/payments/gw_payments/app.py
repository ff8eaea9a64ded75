"""Payments function: ASGI app and its Lambda handler."""

from __future__ import annotations

from fastapi import APIRouter
from mangum import Mangum

from gateway_common.web import create_app

from . import billing_routes, routes

# The function's routes, in one router (the local runner mounts it with every other function's).
router = APIRouter()
router.routes.extend([*routes.router.routes, *billing_routes.router.routes])

app = create_app("AI Gateway - payments", [router])
handler = Mangum(app, lifespan="off")
