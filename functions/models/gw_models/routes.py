"""HTTP edge of the models group."""

from __future__ import annotations

from fastapi import APIRouter, Query

from gateway_common.auth import Caller
from gateway_common.web import authorized

from . import logic
from .schemas import ModelList, ModelView, OpenAIModel, OpenAIModelList, PricingView, ProviderList, ProviderView

router = APIRouter()
CATALOG_EPOCH = 1730419200  # 2024-11-01, the snapshot's "created" for OpenAI's list format


@router.get("/v1/models", response_model=OpenAIModelList, tags=["models"], summary="Models in OpenAI's list format")
def openai_models(caller: Caller = authorized("models")) -> OpenAIModelList:
    del caller
    return OpenAIModelList(data=[OpenAIModel(id=e.id, created=CATALOG_EPOCH, owned_by=e.provider) for e in logic.list_models(None)])


@router.get("/v1/models/{model_id:path}", response_model=OpenAIModel, tags=["models"],
            summary="One model in OpenAI's format (ids contain a slash: /v1/models/openai/gpt-4o-mini)")
def openai_model(model_id: str, caller: Caller = authorized("models")) -> OpenAIModel:
    del caller
    entry = logic.get_model(model_id)
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

