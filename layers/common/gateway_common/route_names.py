"""Every route of the API by name ('POST /v1/chat/completions'), and the seed's short names for the AI routes.

``routes.json`` is the template's API events (tests/unit/test_template_routes.py fails when the two differ; regenerate
it with ``python -m local.route_list``). Admins name routes in ``custom_limits``; a name that is no route is refused,
so a typo can never leave a limit silently unenforced.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from .errors import BadRequest

# The gateway document's names (``"custom_limits": {"chat_completions": 50, "image_generation": 10}``).
ALIASES: dict[str, tuple[str, ...]] = {
    "chat_completions": ("POST /v1/chat/completions",),
    "responses": ("POST /v1/responses",),
    "image_generation": ("POST /images/generate", "POST /v1/images/generations"),
    "api_chat": ("POST /api/chat",),
    "messages": ("POST /v1/messages",),
    "embeddings": ("POST /v1/embeddings",),
}


@lru_cache(maxsize=1)
def routes() -> frozenset[str]:
    return frozenset(json.loads(Path(__file__).with_name("routes.json").read_text())["routes"])


def resolve(name: str) -> tuple[str, ...]:
    """The routes a custom_limits name stands for; BadRequest listing the valid names otherwise."""
    text = " ".join(name.split())
    method, _, path = text.partition(" ")
    route = f"{method.upper()} {path}" if path else text
    if route in routes():
        return (route,)
    aliased = tuple(r for r in ALIASES.get(text.lower(), ()) if r in routes())
    if aliased:
        return aliased
    aliases = sorted(a for a, rs in ALIASES.items() if any(r in routes() for r in rs))
    raise BadRequest(
        f"field 'custom_limits': '{name}' is not a route. Use 'METHOD /path' as in /docs, one of: "
        f"{', '.join(sorted(routes()))}; or a short name: {', '.join(aliases)}",
        code="unknown_route",
    )


def resolve_all(limits: dict[str, int]) -> dict[str, int]:
    """custom_limits with every name resolved to its routes (a route named twice keeps the smaller limit)."""
    out: dict[str, int] = {}
    for name, limit in limits.items():
        for route in resolve(name):
            out[route] = min(limit, out.get(route, limit))
    return out
