"""Health group: GET /health, GET /ping, GET /api/health (public, no key)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from mangum import Mangum
from pydantic import BaseModel

from gateway_common import __version__
from gateway_common.timeutil import iso_now
from gateway_common.web import STARTED_AT, create_app

router = APIRouter(tags=["health"])


class HealthResponse(BaseModel):
    status: str
    timestamp: str
    version: str


class PingResponse(HealthResponse):
    uptime: int


@router.get("/health", response_model=HealthResponse, summary="System health")
def health() -> HealthResponse:
    return HealthResponse(status="healthy", timestamp=iso_now(), version=__version__)


@router.get("/api/health", response_model=HealthResponse, summary="Health check of the usage/limits API")
def api_health() -> HealthResponse:
    return HealthResponse(status="healthy", timestamp=iso_now(), version=__version__)


@router.get("/ping", response_model=PingResponse, summary="Ping with uptime and version")
def ping() -> PingResponse:
    return PingResponse(status="pong", timestamp=iso_now(), version=__version__, uptime=int(time.time() - STARTED_AT))


app = create_app("AI Gateway - health", [router])
handler = Mangum(app, lifespan="off")
