"""One httpx.AsyncClient per event loop (connections are reused across requests of a warm function)."""

from __future__ import annotations

import asyncio
import weakref

import httpx

from ..settings import get_settings

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None or found.is_closed:
        timeout = get_settings().upstream_timeout_seconds
        found = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )
        _clients[loop] = found
    return found
