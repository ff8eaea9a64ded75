"""All functions' routers in one ASGI app, discovered from template.yaml (a function added there is served here)."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from . import paths, template


def build_app() -> FastAPI:
    paths.install()
    from gateway_common.web import create_app

    routers = [importlib.import_module(f.module).router for f in template.http_functions()]
    return create_app("AI Gateway", routers)
