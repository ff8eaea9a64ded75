"""Response models of the models group (prices are USD per token, as JSON numbers)."""

from __future__ import annotations

from pydantic import BaseModel

from gateway_common.money import Money


class OpenAIModel(BaseModel):
    id: str
    object: str = "model"
    created: int
    owned_by: str


class OpenAIModelList(BaseModel):
    object: str = "list"
    data: list[OpenAIModel]


class AnthropicModel(BaseModel):
    type: str = "model"
    id: str
    display_name: str
    created_at: str


class AnthropicModelList(BaseModel):
    data: list[AnthropicModel]
    has_more: bool
    first_id: str | None
    last_id: str | None


class PricingView(BaseModel):
    prompt: Money
    completion: Money
    image: Money | None = None


class ModelView(BaseModel):
    id: str
    name: str
    provider: str
    description: str
    context_length: int
    max_completion_tokens: int | None
    modality: str
    pricing: PricingView
    gateways: list[str]


class ModelList(BaseModel):
    success: bool = True
    data: list[ModelView]
    count: int
    total: int


class ProviderView(BaseModel):
    name: str
    slug: str
    description: str
    model_count: int
    official_url: str
    moderated: bool
    gateways: list[str]


class ProviderList(BaseModel):
    success: bool = True
    data: list[ProviderView]
    count: int
    total: int
