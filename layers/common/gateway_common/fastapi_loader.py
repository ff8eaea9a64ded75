"""Loads FastAPI with its own pydantic models left to be built on first use.

FastAPI defines about forty pydantic models describing the OpenAPI document (``fastapi.openapi.models``) and pydantic
builds each one's validator and serializer at import: about a sixth of the chat function's cold import
(``bench/proxy.py``), for models that only ``/openapi.json`` and ``/docs`` ever use. Pydantic's ``defer_build`` builds a
model at its first validation instead. It is made pydantic's default only while FastAPI's modules load, then put back,
so the gateway's own models behave exactly as pydantic's defaults say. ``config_defaults`` is pydantic-internal: the
pinned pydantic version is the one ``tests/unit/test_cold_start.py`` checks this against.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic._internal import _config


@contextmanager
def deferred_model_builds() -> Iterator[None]:
    """Pydantic models defined inside the block are built when first used, not when defined."""
    before = _config.config_defaults["defer_build"]
    _config.config_defaults["defer_build"] = True
    try:
        yield
    finally:
        _config.config_defaults["defer_build"] = before


if "fastapi" not in sys.modules:  # imported already (a test, a tool): nothing left to defer
    with deferred_model_builds():
        import fastapi
        import fastapi.security  # noqa: F401
