"""Catalog refresh: OpenRouter's model list updates prices and context lengths of the models we route and adds its
other models (routed through OpenRouter); other OpenAI-compatible gateways with credentials add themselves as routes
of models they list under the same id. Providers without credentials are skipped, so locally this does nothing."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from gateway_common import catalog, db
from gateway_common.catalog import ModelEntry, Route
from gateway_common.observability import logger
from gateway_common.providers import openai_compat
from gateway_common.providers.base import ProviderError
from gateway_common.providers.config import PROVIDERS
from gateway_common.timeutil import iso_now


def _price(value: Any) -> Decimal | None:
    """A cache price as OpenRouter gives it (a decimal string), None when absent or negative (unknown)."""
    if value in (None, ""):
        return None
    price = Decimal(str(value))
    return price if price >= 0 else None


def _from_openrouter(raw: dict[str, Any], existing: ModelEntry | None) -> ModelEntry | None:
    try:
        pricing = raw.get("pricing") or {}
        top = raw.get("top_provider") or {}
        entry = ModelEntry(
            id=raw["id"], name=raw.get("name", raw["id"]), provider=raw["id"].split("/", 1)[0],
            description=(raw.get("description") or "")[:500], context_length=int(raw.get("context_length") or 0),
            pricing=catalog.Pricing(prompt=Decimal(str(pricing.get("prompt", "0"))),
                                    completion=Decimal(str(pricing.get("completion", "0"))),
                                    request=Decimal(str(pricing.get("request", "0") or "0")),
                                    image=Decimal(str(pricing.get("image", "0") or "0")),
                                    input_cache_read=_price(pricing.get("input_cache_read")),
                                    input_cache_write=_price(pricing.get("input_cache_write"))),
            top_provider=catalog.TopProvider(context_length=top.get("context_length"),
                                             max_completion_tokens=top.get("max_completion_tokens"),
                                             is_moderated=bool(top.get("is_moderated"))),
            architecture={"modality": (raw.get("architecture") or {}).get("modality", "text->text")},
            routes=list(existing.routes) if existing else [Route(provider="openrouter", model=raw["id"])],
        )
    except (KeyError, ValueError, ArithmeticError):
        return None
    if entry.pricing.prompt < 0 or entry.pricing.completion < 0:  # OpenRouter marks variable-price routers with -1
        return None
    if existing is not None and (existing.is_image or existing.is_embedding):
        return None
    return entry


async def _lists() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for slug in ("openrouter", "featherless", "chutes"):
        config = PROVIDERS[slug]
        key = config.api_key()
        if not key:
            continue
        try:
            out[slug] = await openai_compat.list_models(config, key)
        except ProviderError as exc:
            logger.warning("catalog refresh: provider list failed", extra={"provider": slug, "error": exc.describe()})
    return out


def refresh(lists: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, int]:
    lists = asyncio.run(_lists()) if lists is None else lists
    current = catalog.models()
    updated: dict[str, ModelEntry] = {}
    for raw in lists.get("openrouter", []):
        entry = _from_openrouter(raw, current.get(raw.get("id", "")))
        if entry is not None:
            updated[entry.id] = entry
    for slug in ("featherless", "chutes"):
        ids = {str(m.get("id", "")).lower(): str(m.get("id", "")) for m in lists.get(slug, [])}
        for model_id, entry in {**current, **updated}.items():
            name = model_id.split("/", 1)[-1].lower()
            match = next((real for low, real in ids.items() if low.endswith("/" + name) or low == model_id.lower()), None)
            if match and not any(r.provider == slug for r in entry.routes):
                entry = updated.get(model_id) or entry.model_copy(deep=True)
                entry.routes.append(Route(provider=slug, model=match))
                updated[model_id] = entry
    if updated:  # nothing fetched (no credentials, e.g. locally): nothing written, this process's cache kept
        now = iso_now()
        with db.table(catalog.CATALOG_TABLE).batch_writer() as batch:
            for entry in updated.values():
                batch.put_item(Item={"model_id": entry.id, "data": json.dumps(entry.model_dump(mode="json")),
                                     "refreshed_at": now})
        catalog.clear_cache()
    return {"providers": len(lists), "models_written": len(updated)}
