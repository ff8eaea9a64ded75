"""Loads FastAPI with its own pydantic models left to be built on first use.

FastAPI defines about forty pydantic models describing the OpenAPI document (``fastapi.openapi.models``) and pydantic
builds each one's validator and serializer at import: about a sixth of the chat function's cold import
(``bench/proxy.py``), for models that only ``/openapi.json`` and ``/docs`` ever use. Pydantic's ``defer_build`` builds a
model at its first validation instead. It is made pydantic's default only while FastAPI's modules load, then put back,
so the gateway's own models behave exactly as pydantic's defaults say. ``config_defaults`` is pydantic-internal: the
pinned pydantic version is the one ``tests/unit/test_cold_start.py`` checks this against. FastAPI's check for
pydantic.v1 models answers without importing pydantic.v1 (``no_pydantic_v1_until_imported``), same test.
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


def no_pydantic_v1_until_imported() -> None:
    """FastAPI asks of every route's parameters and response model whether it is a pydantic.v1 model, and imports
    pydantic.v1 (18 ms, ~7% of the chat function's import) to ask. No class or object can be a pydantic.v1 model before
    pydantic.v1 is imported, so until then the answer is no without the import; after it, FastAPI's own check answers."""
    from fastapi import _compat, encoders
    from fastapi._compat import shared

    is_v1_class, is_v1_instance = shared.is_pydantic_v1_model_class, shared.is_pydantic_v1_model_instance

    def v1_class(cls: object) -> bool:
        return "pydantic.v1" in sys.modules and is_v1_class(cls)

    def v1_instance(obj: object) -> bool:
        return "pydantic.v1" in sys.modules and is_v1_instance(obj)

    shared.is_pydantic_v1_model_class = v1_class  # annotation_is_pydantic_v1 looks it up here
    shared.is_pydantic_v1_model_instance = _compat.is_pydantic_v1_model_instance = v1_instance
    encoders.is_pydantic_v1_model_instance = v1_instance  # type: ignore[attr-defined]


if "fastapi" not in sys.modules:  # imported already (a test, a tool): nothing left to defer
    with deferred_model_builds():
        import fastapi
        import fastapi.security  # noqa: F401
no_pydantic_v1_until_imported()
