"""HTTP edge of the models group."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from gateway_common.auth import Caller, authenticate, require_scope
from gateway_common.catalog import ModelEntry
from gateway_common.web import count_endpoint_request

from . import logic
from .schemas import (
    AnthropicModel,
    AnthropicModelList,
    ModelList,
    ModelView,
    OpenAIModel,
    OpenAIModelList,
    PricingView,
    ProviderList,
    ProviderView,
)

router = APIRouter()
CATALOG_EPOCH = 1730419200  # 2024-11-01, the snapshot's "created" for OpenAI's list format


CATALOG_DATE = "2024-11-01T00:00:00Z"
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer gw_live_… (or any gw_* key)")
_api_key = APIKeyHeader(name="x-api-key", auto_error=False, description="a gw_* key, as Anthropic clients send it")


def models_caller(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
    x_api_key: str | None = Depends(_api_key),
    x_license_key: str | None = Header(None, alias="X-License-Key"),
) -> Caller:
    """A key as OpenAI clients send it (Bearer), as Anthropic clients do (x-api-key), or a license key."""
    authorization = f"Bearer {bearer.credentials}" if bearer else request.headers.get("authorization")
    caller = authenticate(authorization, x_api_key or x_license_key)
    request.state.caller = caller
    count_endpoint_request(request, caller)
    require_scope(caller, "read", "models")
    return caller


def _anthropic(request: Request) -> bool:
    """Anthropic's clients send anthropic-version (and x-api-key): they get Anthropic's model shapes."""
    return "anthropic-version" in request.headers or "x-api-key" in request.headers


def _anthropic_model(entry: ModelEntry) -> AnthropicModel:
    return AnthropicModel(id=entry.id, display_name=entry.name, created_at=CATALOG_DATE)


@router.get("/v1/models", response_model=OpenAIModelList | AnthropicModelList, tags=["models"],
            summary="Models in OpenAI's list format (Anthropic's, paged, for requests with anthropic-version)")
def openai_models(
    request: Request,
    limit: int = Query(20, ge=1, le=1000, description="Anthropic format: models a page"),
    after_id: str | None = Query(None, max_length=200, description="Anthropic format: the page after this id"),
    before_id: str | None = Query(None, max_length=200, description="Anthropic format: the page before this id"),
    caller: Caller = Depends(models_caller),
) -> OpenAIModelList | AnthropicModelList:
    del caller
    entries = logic.list_models(None)
    if not _anthropic(request):
        return OpenAIModelList(data=[OpenAIModel(id=e.id, created=CATALOG_EPOCH, owned_by=e.provider) for e in entries])
    page, more = logic.page_after(entries, limit, after_id, before_id)
    return AnthropicModelList(data=[_anthropic_model(e) for e in page], has_more=more,
                              first_id=page[0].id if page else None, last_id=page[-1].id if page else None)


@router.get("/v1/models/{model_id:path}", response_model=OpenAIModel | AnthropicModel, tags=["models"],
            summary="One model in OpenAI's format, or Anthropic's (ids contain a slash: /v1/models/openai/gpt-4o-mini)")
def openai_model(model_id: str, request: Request, caller: Caller = Depends(models_caller)) -> OpenAIModel | AnthropicModel:
    del caller
    entry = logic.get_model(model_id)
    if _anthropic(request):
        return _anthropic_model(entry)
    return OpenAIModel(id=entry.id, created=CATALOG_EPOCH, owned_by=entry.provider)


@router.get("/models", response_model=ModelList, tags=["models"], summary="Available models (public)")
def models(
    provider: str | None = Query(None, description="a vendor (openai, anthropic, …) or a gateway (openrouter, portkey, …)"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> ModelList:
    entries = logic.list_models(provider)
    page = entries[offset: offset + limit]
    views = [
        ModelView(
            id=e.id, name=e.name, provider=e.provider, description=e.description, context_length=e.context_length,
            max_completion_tokens=e.top_provider.max_completion_tokens, modality=str(e.architecture.get("modality", "text->text")),
            pricing=PricingView(prompt=e.pricing.prompt, completion=e.pricing.completion,
                                image=e.pricing.image if e.is_image else None),
            gateways=logic.gateways_of(e),
        )
        for e in page
    ]
    return ModelList(data=views, count=len(views), total=len(entries))


@router.get("/models/providers", response_model=ProviderList, tags=["models"], summary="Model providers (public)")
def providers(
    moderated_only: bool = Query(False),
    gateway: str | None = Query(None, description="openrouter, portkey, featherless, chutes or all"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> ProviderList:
    rows = logic.list_providers(moderated_only, gateway)
    page = rows[offset: offset + limit]
    views = [ProviderView(name=i.name, slug=i.slug, description=i.description, model_count=n, official_url=i.official_url,
                          moderated=i.moderated, gateways=i.gateways) for i, n in page]
    return ProviderList(data=views, count=len(views), total=len(rows))

