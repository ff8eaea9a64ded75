"""The model catalog: a bundled snapshot (catalog.json) overlaid with what the scheduled refresh stored.

Entries use OpenRouter's field names (``id``, ``name``, ``context_length``, ``pricing`` in USD per token as decimal
strings, ``top_provider``) plus ``provider`` (the vendor, first part of ``vendor/model``) and ``routes``: the upstream
providers that can serve the model, in order of preference, each with the provider's own model id.

The refresh function (functions/catalog_refresh) writes one item per model to CatalogTable (``model_id`` + ``data``
JSON). A process reads the overlay once (its first request); after ``OVERLAY_TTL_SECONDS`` it is re-read by a
background thread while requests go on with the copy they have, so a warm request never waits on a catalog read.

Plans priced in EUR convert the USD prices with the fixed rate ``settings.usd_to_eur`` (env ``USD_TO_EUR_RATE``).
"""

from __future__ import annotations

import json
import re
import threading
import time
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from .errors import BadRequest

CATALOG_TABLE = "CatalogTable"
OVERLAY_TTL_SECONDS = 300.0


class Pricing(BaseModel):
    """USD per token (per image, per request). ``input_cache_read`` / ``input_cache_write``: OpenRouter's names for the
    price of a prompt token read from / written to the provider's prompt cache (absent: the prompt price)."""

    prompt: Decimal = Decimal("0")
    completion: Decimal = Decimal("0")
    request: Decimal = Decimal("0")
    image: Decimal = Decimal("0")
    input_cache_read: Decimal | None = None
    input_cache_write: Decimal | None = None


class TopProvider(BaseModel):
    context_length: int | None = None
    max_completion_tokens: int | None = None
    is_moderated: bool = False


class Route(BaseModel):
    provider: str
    model: str


class ModelEntry(BaseModel):
    id: str
    name: str
    provider: str
    description: str = ""
    context_length: int = 0
    pricing: Pricing = Field(default_factory=Pricing)
    top_provider: TopProvider = Field(default_factory=TopProvider)
    architecture: dict[str, Any] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    dimensions: int | None = None  # embedding models: the length of a vector

    @property
    def is_image(self) -> bool:
        return str(self.architecture.get("modality", "")).endswith("->image")

    @property
    def is_embedding(self) -> bool:
        return str(self.architecture.get("modality", "")).endswith("->embedding")

    def max_output(self) -> int:
        limit = self.top_provider.max_completion_tokens or 4096
        return max(limit, 1)


class ProviderInfo(BaseModel):
    slug: str
    name: str
    description: str
    official_url: str
    moderated: bool = False
    gateways: list[str] = Field(default_factory=list)


@lru_cache(maxsize=1)
def _bundled() -> tuple[dict[str, ModelEntry], list[ProviderInfo]]:
    raw = json.loads(Path(__file__).with_name("catalog.json").read_text())
    models = {m["id"]: ModelEntry.model_validate(m) for m in raw["data"]}
    providers = [ProviderInfo.model_validate(p) for p in raw["providers"]]
    return models, providers


_overlay: dict[str, ModelEntry] = {}
_overlay_until = 0.0
_loaded = False
_refresher: threading.Thread | None = None
_lock = threading.Lock()
_clock = time.monotonic


def clear_cache() -> None:
    """Forget the overlay: the next read loads it again, synchronously (the refresh job calls this after writing)."""
    global _overlay_until, _loaded
    with _lock:
        _overlay.clear()
        _overlay_until = 0.0
        _loaded = False


def _read_overlay() -> dict[str, ModelEntry] | None:
    """Every refreshed model (a Scan through the thread-safe client); None when the table cannot be read."""
    from . import db

    fresh: dict[str, ModelEntry] = {}
    try:
        kwargs: dict[str, Any] = {"TableName": db.table_name(CATALOG_TABLE)}
        while True:
            page = db.client().scan(**kwargs)
            for item in page.get("Items", []):
                try:
                    fresh[item["model_id"]["S"]] = ModelEntry.model_validate(json.loads(item["data"]["S"]))
                except (KeyError, ValueError):
                    continue
            if "LastEvaluatedKey" not in page:
                return fresh
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except Exception:  # noqa: BLE001 - the bundled snapshot always serves; the overlay is an improvement
        return None


def _store(fresh: dict[str, ModelEntry] | None, started: float) -> None:
    global _overlay_until, _loaded, _refresher
    with _lock:
        if fresh is not None:
            _overlay.clear()
            _overlay.update(fresh)
        _overlay_until = started + OVERLAY_TTL_SECONDS
        _loaded = True
        _refresher = None


def _load_overlay() -> dict[str, ModelEntry]:
    global _refresher
    now = _clock()
    if now < _overlay_until:
        return _overlay
    if not _loaded:  # the process's first read: the request needs it
        _store(_read_overlay(), now)
        return _overlay
    with _lock:  # stale: one background re-read, this request goes on with the current copy
        if _refresher is None:
            _refresher = threading.Thread(target=lambda: _store(_read_overlay(), now), name="catalog-refresh", daemon=True)
            _refresher.start()
    return _overlay


def wait_for_refresh(timeout: float = 10.0) -> None:
    """Wait for a background re-read of the overlay to finish (tests)."""
    thread = _refresher
    if thread is not None:
        thread.join(timeout)


def models() -> dict[str, ModelEntry]:
    bundled, _ = _bundled()
    overlay = _load_overlay()
    if not overlay:
        return bundled
    merged = dict(bundled)
    merged.update(overlay)
    return merged


def providers() -> list[ProviderInfo]:
    return list(_bundled()[1])


SNAPSHOT = re.compile(r"(?P<base>.+)-(?P<date>\d{8})")
ALIAS_SUFFIX = re.compile(r"-(latest|0)$")


def _snapshot_alias(every: dict[str, ModelEntry], model_id: str) -> ModelEntry | None:
    """Anthropic's aliases (``claude-3-5-haiku-latest``, ``claude-sonnet-4-0``, ``claude-opus-4-1``) name the newest
    dated snapshot (``<base>-YYYYMMDD``) of their base among the routes' model ids."""
    base = ALIAS_SUFFIX.sub("", model_id)
    newest: tuple[str, ModelEntry] | None = None
    for entry in every.values():
        for route in entry.routes:
            match = SNAPSHOT.fullmatch(route.model.rsplit("/", 1)[-1])
            if match and match["base"] == base and (newest is None or match["date"] > newest[0]):
                newest = (match["date"], entry)
    return newest[1] if newest else None


def get_model(model_id: str) -> ModelEntry:
    """A catalog model by its ``vendor/model`` id, or by its bare name (``gpt-4o-mini``) or a route's own model id
    (``claude-3-5-haiku-20241022``, what Anthropic clients send) when exactly one model has it (two or more: a 400
    listing them), or an Anthropic alias of a dated snapshot (``claude-3-5-haiku-latest``)."""
    every = models()
    entry = every.get(model_id)
    if entry is None and model_id:
        candidates = sorted(m.id for m in every.values()
                            if m.id.split("/", 1)[-1] == model_id or any(r.model == model_id for r in m.routes))
        if len(candidates) > 1:
            raise BadRequest(f"Model '{model_id}' is ambiguous: it names {', '.join(candidates)}; use one of these ids",
                             code="model_ambiguous", param="model")
        entry = every[candidates[0]] if candidates else _snapshot_alias(every, model_id)
    if entry is None:
        raise BadRequest(
            f"Unknown model '{model_id}': use a 'vendor/model' id from GET /v1/models (e.g. 'openai/gpt-4o-mini')",
            code="model_not_found", param="model",
        )
    return entry


def usd_rate(currency: str) -> Decimal:
    """Units of ``currency`` per USD (fixed rates; prices in the catalog are USD)."""
    from .settings import get_settings

    currency = currency.lower()
    if currency == "usd":
        return Decimal("1")
    if currency == "eur":
        return get_settings().usd_to_eur
    raise BadRequest(f"Unsupported currency '{currency}'")


def token_cost(entry: ModelEntry, prompt_tokens: int, completion_tokens: int, currency: str = "usd", *,
               cached_tokens: int = 0, cache_write_tokens: int = 0) -> Decimal:
    """Exact cost. ``prompt_tokens`` counts every input token (OpenAI's meaning); of them, ``cached_tokens`` were read
    from the provider's prompt cache and ``cache_write_tokens`` written to it, each priced at its catalog cache price
    (the prompt price when the catalog has none). A count above the prompt is clamped: never a negative charge."""
    pricing = entry.pricing
    cached = min(max(cached_tokens, 0), prompt_tokens)
    written = min(max(cache_write_tokens, 0), prompt_tokens - cached)
    read_price = pricing.prompt if pricing.input_cache_read is None else pricing.input_cache_read
    write_price = pricing.prompt if pricing.input_cache_write is None else pricing.input_cache_write
    usd = (pricing.prompt * (prompt_tokens - cached - written) + read_price * cached + write_price * written
           + pricing.completion * completion_tokens + pricing.request)
    return usd * usd_rate(currency)


def image_cost(entry: ModelEntry, images: int, currency: str = "usd") -> Decimal:
    return entry.pricing.image * images * usd_rate(currency)
