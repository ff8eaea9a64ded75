"""Web group: GET / (the dashboard's page) and GET /app/{path} (its modules, styles, images).

Files are read once, at import, into a table keyed by their path under ``app/``: a request can name only a file that
exists there (no path is ever joined onto the file system from a request), and each answer carries an ETag so a
browser revalidates with a 304 instead of downloading again.

Served from the same API and stage as the gateway (not a bucket on another origin): the app calls the API with
relative URLs, so no CORS is needed and the key never crosses origins; ``sam build`` packages the files with this
function. The page gets ``<base href>`` set to the stage path the browser used (``/v1/`` behind API Gateway, ``/``
locally), which is what makes those relative URLs right in both places.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from mangum import Mangum

from gateway_common.errors import NotFound
from gateway_common.web import create_app

APP_DIR = Path(__file__).resolve().parent.parent / "app"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8",
         ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".json": "application/json"}
BASE_MARKER = '<base href="/">'
CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self' https://auth.privy.io",  # Privy's email sign-in, only used where PRIVY_APP_ID is set
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",  # always revalidate (ETag): files are not renamed per release
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def _etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def _load(root: Path) -> dict[str, Asset]:
    assets = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in TYPES:
            body = path.read_bytes()
            assets[path.relative_to(root).as_posix()] = Asset(body, TYPES[path.suffix], _etag(body))
    return assets


ASSETS = _load(APP_DIR)
# Locally (make run) the files are read again at each page load, so an edit shows on reload; in AWS they never change.
RELOAD = os.environ.get("GATEWAY_ENV", "local") != "aws"
router = APIRouter(include_in_schema=False)


def _answer(request: Request, asset: Asset) -> Response:
    headers = {**SECURITY_HEADERS, "ETag": asset.etag}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def stage_prefix(request: Request) -> str:
    """The path prefix the browser used before the route (API Gateway's stage or base path mapping), e.g. ``/v1``."""
    event = request.scope.get("aws.event") or {}
    full, route = (event.get("requestContext") or {}).get("path") or "", event.get("path") or ""
    if full and route and full.endswith(route):
        return full[: len(full) - len(route)].rstrip("/")
    return ""


@router.get("/")
def index(request: Request) -> Response:
    global ASSETS  # the whole table is swapped at once
    if RELOAD:
        ASSETS = _load(APP_DIR)
    page = ASSETS["index.html"]
    prefix = stage_prefix(request)
    if prefix:
        body = page.body.replace(BASE_MARKER.encode(), f'<base href="{prefix}/">'.encode(), 1)
        page = Asset(body, page.media_type, _etag(body))
    return _answer(request, page)


@router.get("/app/{path:path}")
def asset(path: str, request: Request) -> Response:
    found = ASSETS.get(path)
    if found is None or path == "index.html":
        raise NotFound(f"No file app/{path} in the dashboard")
    return _answer(request, found)


app = create_app("AI Gateway - dashboard", [router])
handler = Mangum(app, lifespan="off")
