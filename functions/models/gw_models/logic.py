"""Catalog views: filtering and paging (no HTTP here)."""

from __future__ import annotations

from gateway_common import catalog
from gateway_common.catalog import ModelEntry
from gateway_common.errors import BadRequest, NotFound
from gateway_common.providers.config import GATEWAYS, PROVIDERS

GATEWAY_CHOICES = (*GATEWAYS, "all")


def gateways_of(entry: ModelEntry) -> list[str]:
    return sorted({r.provider for r in entry.routes})


def get_model(model_id: str) -> ModelEntry:
    """A catalog model by id (or an unambiguous bare name); an unknown one is a 404, as OpenAI answers."""
    try:
        return catalog.get_model(model_id)
    except BadRequest as exc:
        if exc.code != "model_not_found":
            raise
        raise NotFound(f"The model '{model_id}' does not exist: GET /v1/models lists them", code="model_not_found",
                       param="model") from None


def page_after(entries: list[ModelEntry], limit: int, after_id: str | None,
               before_id: str | None) -> tuple[list[ModelEntry], bool]:
    """Anthropic's paging by id: the ``limit`` entries after ``after_id`` (or those before ``before_id``), and
    whether more follow in that direction. An id not listed is a 400."""
    ids = [e.id for e in entries]
    for name, value in (("after_id", after_id), ("before_id", before_id)):
        if value is not None and value not in ids:
            raise BadRequest(f"query parameter '{name}': no model '{value[:100]}'", param=name)
    if before_id is not None:
        end = ids.index(before_id)
        return entries[max(end - limit, 0): end], end - limit > 0
    start = ids.index(after_id) + 1 if after_id is not None else 0
    return entries[start: start + limit], start + limit < len(entries)


def list_models(provider: str | None) -> list[ModelEntry]:
    entries = sorted(catalog.models().values(), key=lambda e: e.id)
    if provider:
        slug = provider.strip().lower()
        known = {e.provider for e in entries} | set(PROVIDERS)
        if slug not in known:
            raise BadRequest(f"Unknown provider '{provider}': one of {', '.join(sorted(known))}")
        # a vendor (openai, anthropic, …) or a gateway that routes the model (openrouter, portkey, featherless, chutes)
        entries = [e for e in entries if e.provider == slug or slug in gateways_of(e)]
    return entries


def list_providers(moderated_only: bool, gateway: str | None) -> list[tuple[catalog.ProviderInfo, int]]:
    if gateway and gateway.lower() not in GATEWAY_CHOICES:
        raise BadRequest(f"query parameter 'gateway': one of {', '.join(GATEWAY_CHOICES)}")
    models = list(catalog.models().values())
    out = []
    for info in catalog.providers():
        if moderated_only and not info.moderated:
            continue
        mine = [m for m in models if m.provider == info.slug]
        if gateway and gateway.lower() != "all":
            mine = [m for m in mine if gateway.lower() in gateways_of(m)]
            if not mine:
                continue
        out.append((info, len(mine)))
    return out
