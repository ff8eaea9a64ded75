"""Routing: which upstream routes serve a model, retries with backoff, fallback to the next route.

A model's routes come from the catalog in preference order. Routes whose provider has no credentials are skipped.
With none left: locally the sandbox serves the request (``Target.sandbox_fallback``), in AWS it is a 503 naming the
providers to configure. On 429, 5xx, timeouts and connection errors a route is retried once after a backoff
(``settings.upstream_backoff_seconds`` x 2^attempt), then the next route is tried; a route whose provider asked
(Retry-After) for a longer wait than that backoff is left at once for the next one. A provider's 400/422 is the
caller's mistake and is returned as a 400 at once; other failures end as one 502 that lists what each route said,
except when every attempt was refused with a 429: then the client gets a 429 with ``Retry-After`` (the soonest any
provider asked for, ``DEFAULT_RETRY_AFTER`` when none said), which is what OpenAI clients retry on.
All attempts of one request share ``UPSTREAM_BUDGET_SECONDS``: an attempt gets at most what is left of it and none
starts once it is spent, so slow routes end in a clean 502 (settled, not charged) before the function's own timeout
(300 s in template.yaml) could kill the invocation mid-request.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from .. import observability
from ..catalog import ModelEntry
from ..errors import BadRequest, GatewayError, RateLimited, ServiceUnavailable, UpstreamError
from ..observability import logger
from ..settings import get_settings
from . import anthropic, openai_compat, sandbox
from .base import Completion, EmbeddingResult, ImageResult, ProviderError
from .config import PROVIDERS, ProviderConfig

ATTEMPTS_PER_ROUTE = 2
DEFAULT_RETRY_AFTER = 2  # seconds, when every route said 429 and none said when to come back
MAX_RETRY_AFTER = 60
UPSTREAM_BUDGET_SECONDS = 240.0  # < the chat function's Timeout (300 s): time is left to settle and answer
_clock = time.monotonic


@dataclass(frozen=True)
class Target:
    config: ProviderConfig
    upstream_model: str
    sandbox_fallback: bool = False  # served by the sandbox because the real providers have no credentials (local only)

    @property
    def key(self) -> str | None:
        """Read when the route is tried (env locally; SSM / Secrets Manager through Powertools, cached 5 min, in AWS):
        fallback routes that are never tried cost no secret fetch on the request's path."""
        return None if self.is_sandbox else self.config.api_key()

    @property
    def provider(self) -> str:
        return self.config.slug

    @property
    def is_sandbox(self) -> bool:
        return self.config.kind == "sandbox"


SANDBOX = Target(PROVIDERS["sandbox"], "sandbox")


def plan(entry: ModelEntry, *, sandbox_only: bool = False, images: bool = False) -> list[Target]:
    """The targets to try for a model, in order."""
    if sandbox_only:
        return [SANDBOX]
    targets: list[Target] = []
    missing: list[str] = []
    for route in entry.routes:
        config = PROVIDERS.get(route.provider)
        if config is None:
            continue
        if config.kind == "sandbox":
            targets.append(SANDBOX)
            continue
        if images and not config.supports_images:
            continue
        if not config.configured():
            missing.append(config.secret or config.slug)
            continue
        targets.append(Target(config, route.model))
    if targets:
        return targets
    if get_settings().is_local:
        return [Target(PROVIDERS["sandbox"], "sandbox", sandbox_fallback=True)]
    if not missing:
        raise ServiceUnavailable(f"No upstream provider serves '{entry.id}' in this deployment", code="provider_unavailable")
    raise ServiceUnavailable(
        f"Model '{entry.id}' is unavailable: its provider is not configured (missing {', '.join(missing)})",
        code="provider_not_configured",
    )


def _backoff_delay(attempt: int) -> float:
    return get_settings().upstream_backoff_seconds * (2**attempt)


async def _backoff(attempt: int) -> None:
    delay = _backoff_delay(attempt)
    if delay > 0:
        await asyncio.sleep(delay)


@dataclass(frozen=True)
class Failure:
    """What a failed call tried, for its usage record: the providers in the order tried, and the last one's error."""

    providers_tried: tuple[str, ...]
    last_error_class: str | None

    @property
    def provider(self) -> str:
        return self.providers_tried[-1] if self.providers_tried else "none"


def error_class(error: ProviderError) -> str:
    """A provider error in one word: rate_limited, auth, bad_request, not_found, server_error, timeout, unreachable."""
    status = error.status
    if status == 429:
        return "rate_limited"
    if status in (401, 403):
        return "auth"
    if status in (400, 413, 422):
        return "bad_request"
    if status in (404, 408):
        return "not_found" if status == 404 else "timeout"
    if status is not None and status >= 500:
        return "server_error"
    return "timeout" if "timed out" in error.message else "unreachable"


def _attributed(error: GatewayError, errors: list[ProviderError]) -> GatewayError:
    """The error carries what was tried (``failure_of`` reads it back), so the settle can record it."""
    tried = tuple(dict.fromkeys(e.provider for e in errors))
    error.upstream_failure = Failure(tried, error_class(errors[-1]) if errors else None)  # type: ignore[attr-defined]
    return error


def failure_of(exc: BaseException) -> Failure | None:
    failure = getattr(exc, "upstream_failure", None)
    return failure if isinstance(failure, Failure) else None


def _final_error(model: str, errors: list[ProviderError]) -> GatewayError:
    return _attributed(_final_error_of(model, errors), errors)


def _final_error_of(model: str, errors: list[ProviderError]) -> GatewayError:
    summary = "; ".join(e.describe() for e in errors[-4:]) or "no route answered"
    if errors and all(e.status == 429 for e in errors):
        hints = [e.retry_after for e in errors if e.retry_after is not None]
        wait = min(max(math.ceil(min(hints)), 1), MAX_RETRY_AFTER) if hints else DEFAULT_RETRY_AFTER
        return RateLimited(
            f"Model '{model}' is rate-limited by its upstream providers right now (not by your plan): retry in {wait} s. "
            f"{summary}",
            code="upstream_rate_limited", headers={"Retry-After": str(wait)},
        )
    return UpstreamError(f"Model '{model}' failed upstream after retries and fallback: {summary}", code="upstream_error")


def _client_error(error: ProviderError) -> BadRequest | None:
    if error.status in (400, 413, 422):
        return BadRequest(f"The provider rejected the request ({error.provider}): {error.message}", code="upstream_bad_request")
    return None


def _read_key(target: Target) -> str | None:
    if target.is_sandbox:
        return None
    try:
        key = target.key
    except Exception:  # noqa: BLE001 - a secret store failure makes this route unusable, not the request
        key = None
    if not key:
        raise ProviderError(target.provider, f"its key ({target.config.secret}) could not be read")
    return key


async def _attempts(targets: list[Target], model: str, call: Any) -> Any:
    errors: list[ProviderError] = []
    deadline = _clock() + UPSTREAM_BUDGET_SECONDS
    for index, target in enumerate(targets):
        for attempt in range(ATTEMPTS_PER_ROUTE):
            left = deadline - _clock()
            if left <= 0:
                errors.append(ProviderError(target.provider, f"not tried: the request's {UPSTREAM_BUDGET_SECONDS:.0f} s "
                                                             "upstream time budget was spent"))
                raise _final_error(model, errors)
            key: str | None = None
            started = _clock()
            try:
                key = _read_key(target)
                try:
                    async with asyncio.timeout(left):
                        result = await call(target, key)
                except TimeoutError:
                    raise ProviderError(target.provider, "timed out (the request's upstream time budget ran out)",
                                        retryable=True) from None
                observability.upstream(target.provider, (_clock() - started) * 1000, failed=False)
                if index:
                    observability.emit(observability.Metric.FALLBACKS)
                return target, result
            except ProviderError as exc:
                observability.upstream(target.provider, (_clock() - started) * 1000, failed=True)
                if key and key in exc.message:  # some providers echo the key they refused
                    exc.message = exc.message.replace(key, "[provider key]")
                errors.append(exc)
                logger.warning("upstream failure",
                               extra={"provider": exc.provider, "status": exc.status, "retryable": exc.retryable})
                bad = _client_error(exc)
                if bad is not None:
                    raise _attributed(bad, errors) from None
                if not exc.retryable:
                    break  # e.g. 401/403: this route's credentials are refused; try the next route
                if exc.retry_after is not None and exc.retry_after > _backoff_delay(attempt):
                    break  # the provider asked for a longer wait than our backoff: go to the next route at once
                if attempt + 1 < ATTEMPTS_PER_ROUTE:
                    await _backoff(attempt)
    raise _final_error(model, errors)


async def complete(targets: list[Target], request: dict[str, Any]) -> tuple[Target, Completion]:
    async def call(target: Target, key: str | None) -> Completion:
        if target.is_sandbox:
            return await sandbox.complete(request)
        if target.config.kind == "anthropic":
            return await anthropic.complete(target.config, key, target.upstream_model, request)
        return await openai_compat.complete(target.config, key, target.upstream_model, request)

    return await _attempts(targets, request.get("model", ""), call)  # type: ignore[no-any-return]


def _stream_of(target: Target, key: str | None, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    if target.is_sandbox:
        return sandbox.stream(request)
    if target.config.kind == "anthropic":
        return anthropic.stream(target.config, key, target.upstream_model, request)
    return openai_compat.stream(target.config, key, target.upstream_model, request)


async def open_stream(
    targets: list[Target], request: dict[str, Any]
) -> tuple[Target, dict[str, Any], AsyncIterator[dict[str, Any]]]:
    """Start a stream on the first route that yields a first chunk (retries and fallback happen only before it)."""

    async def call(target: Target, key: str | None) -> tuple[dict[str, Any], AsyncIterator[dict[str, Any]]]:
        iterator = _stream_of(target, key, request)
        try:
            first = await iterator.__anext__()
        except StopAsyncIteration:
            raise ProviderError(target.provider, "empty stream", retryable=True) from None
        return first, iterator

    target, (first, iterator) = await _attempts(targets, request.get("model", ""), call)
    return target, first, iterator


async def images(targets: list[Target], request: dict[str, Any]) -> tuple[Target, ImageResult]:
    async def call(target: Target, key: str | None) -> ImageResult:
        if target.is_sandbox:
            return await sandbox.images(request)
        return await openai_compat.images(target.config, key, target.upstream_model, request)

    return await _attempts(targets, request.get("model", ""), call)  # type: ignore[no-any-return]


async def embeddings(targets: list[Target], request: dict[str, Any], dimensions: int) -> tuple[Target, EmbeddingResult]:
    async def call(target: Target, key: str | None) -> EmbeddingResult:
        if target.is_sandbox:
            return await sandbox.embeddings(request, dimensions)
        if target.config.kind != "openai":
            raise ProviderError(target.provider, "offers no embeddings API")
        return await openai_compat.embeddings(target.config, key, target.upstream_model, request)

    return await _attempts(targets, request.get("model", ""), call)  # type: ignore[no-any-return]
