"""What /api/chat (license keys) asks for by default, shared by the chat route and the limits check.

``/api/limits/check`` judges exactly the request /api/chat gets with its defaults (this model, no max_tokens, so the
model's output limit) and the probe prompt below, so the check and a default request cannot disagree.
"""

from __future__ import annotations

from typing import Any

from . import catalog
from .errors import BadRequest

DEFAULT_PROVIDER = "openai"
DEFAULT_MODEL = "gpt-4o-mini"
PROBE_MESSAGES: tuple[dict[str, Any], ...] = ({"role": "user", "content": "Hello"},)


def license_model(provider: str, model: str) -> str:
    """/api/chat names a provider and the provider's model; find the catalog id."""
    models = catalog.models()
    direct = f"{provider}/{model}"
    if direct in models:
        return direct
    for entry in models.values():
        if entry.provider == provider and (entry.id.split("/", 1)[1] == model or any(r.model == model for r in entry.routes)):
            return entry.id
    known = sorted(e.id.split("/", 1)[1] for e in models.values() if e.provider == provider and not e.is_image)
    raise BadRequest(f"Unknown {provider} model '{model}': one of {', '.join(known)}", code="model_not_found")
