"""Request and response models of the chat group.

AI request bodies accept fields beyond the ones listed (``extra="allow"``): OpenAI clients send many optional fields
(tools, seed, logit_bias, user, …) that are passed through to the provider as they are. The listed ones are validated.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from gateway_common.license_chat import DEFAULT_MODEL, DEFAULT_PROVIDER
from gateway_common.money import Money
from gateway_common.providers.sandbox import is_gpt_image
from gateway_common.schemas import StrictBody

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
NO_FILE_IDS = ("file ids name files uploaded to a provider's account, and the gateway takes no uploads: give the file "
               "as file_data (a data URL)")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(description="system, developer, user, assistant or tool")
    content: str | list[dict[str, Any]] | None = None

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        return value

    @field_validator("content")
    @classmethod
    def _no_file_ids(cls, value: str | list[dict[str, Any]] | None) -> str | list[dict[str, Any]] | None:
        for part in value if isinstance(value, list) else ():
            file = part.get("file") if part.get("type") == "file" else None
            if isinstance(file, dict) and file.get("file_id") and not file.get("file_data"):
                raise ValueError(NO_FILE_IDS)
        return value


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(StrictBody):
    model_config = ConfigDict(extra="allow")

    model: str = Field(..., min_length=3, max_length=200, examples=["openai/gpt-4o-mini"], description="a vendor/model id")
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=2000)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(None, ge=1, le=1_000_000)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    response_format: dict[str, Any] | None = None
    n: int | None = Field(None, ge=1, le=8, description="choices to generate (reserved and charged n times the output); "
                                                         "routes that cannot give several (Anthropic) are skipped")


class ChatChoice(BaseModel):
    model_config = ConfigDict(extra="allow")
    index: int
    message: dict[str, Any]
    finish_reason: str | None = None


class UsageView(BaseModel):
    model_config = ConfigDict(extra="allow")
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: UsageView | None = None


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="allow")
    format: dict[str, Any] | None = None


class ResponsesRequest(StrictBody):
    model_config = ConfigDict(extra="allow")

    model: str = Field(..., min_length=3, max_length=200)
    input: str | list[dict[str, Any]] = Field(..., description="a string, or a list of input items / messages")
    instructions: str | None = None
    max_output_tokens: int | None = Field(None, ge=1, le=1_000_000)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000, description="accepted as an alias of max_output_tokens")
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    response_format: dict[str, Any] | None = None
    text: TextFormat | None = None
    stream: bool = False
    store: bool = Field(True, description="keep the response 30 days for GET /v1/responses/{id} and previous_response_id")
    previous_response_id: str | None = Field(None, max_length=200)
    metadata: dict[str, str] | None = Field(None, max_length=16)
    tools: list[dict[str, Any]] | None = Field(None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None


class ResponsesResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    object: str = "response"
    created_at: int
    status: str
    model: str
    output: list[dict[str, Any]]
    output_text: str
    usage: dict[str, Any]


class InputItemList(BaseModel):
    object: str = "list"
    data: list[dict[str, Any]]
    has_more: bool
    first_id: str | None
    last_id: str | None


class DeletedResponse(BaseModel):
    id: str
    object: str = "response"
    deleted: bool = True


class ImageRequest(StrictBody):
    """OpenAI's CreateImageRequest, every field. GPT image models answer ``b64_json`` (they have no URLs);
    ``response_format`` is for DALL-E models. ``stream: true`` (GPT image models only, as at OpenAI) answers OpenAI's
    image stream events on /v1/images/generations (see image_stream.py)."""

    prompt: str = Field(..., min_length=1, max_length=32000)
    model: str = Field("openai/dall-e-3", min_length=3, max_length=200)
    n: int = Field(1, ge=1, le=10)
    size: str = Field("1024x1024", pattern=r"^\d{2,4}x\d{2,4}$|^auto$")
    quality: Literal["standard", "hd", "low", "medium", "high", "auto"] | None = None
    style: Literal["vivid", "natural"] | None = None
    response_format: Literal["url", "b64_json"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = Field(None, ge=0, le=100)
    background: Literal["transparent", "opaque", "auto"] | None = None
    moderation: Literal["low", "auto"] | None = None
    partial_images: int | None = Field(None, ge=0, le=3)
    stream: bool | None = None
    user: str | None = Field(None, max_length=200)

    @field_validator("stream")
    @classmethod
    def _stream_needs_a_gpt_image_model(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        if value and not is_gpt_image(str(info.data.get("model", ""))):
            raise ValueError("only GPT image models (e.g. openai/gpt-image-1) stream their images")
        return value


class ImageData(BaseModel):
    model_config = ConfigDict(extra="allow")
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImageGenerateResponse(BaseModel):
    success: bool = True
    created: int
    model: str
    data: list[ImageData]
    cost: Money


class OpenAIImagesResponse(BaseModel):
    created: int
    data: list[ImageData]


class LicenseChatRequest(StrictBody):
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=2000)
    api_provider: Literal["openai", "anthropic", "deepseek"] = DEFAULT_PROVIDER
    model: str = Field(DEFAULT_MODEL, min_length=1, max_length=200, description="the provider's model name, e.g. gpt-4o-mini")
    max_tokens: int | None = Field(None, ge=1, le=100_000)
    temperature: float | None = Field(None, ge=0, le=2)


class LicenseChatResponse(BaseModel):
    status: str = "success"
    provider: str
    model: str
    response: str
    choices: list[ChatChoice]
    usage: UsageView
    cost_eur: Money
    currency: str


class CreateSessionRequest(StrictBody):
    name: str = Field("New chat", min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)


class CreateSessionResponse(BaseModel):
    success: bool = True
    session_id: int
    name: str
    description: str | None = None
    created_at: str


class SessionSummary(BaseModel):
    id: int
    name: str
    description: str | None = None
    message_count: int
    created_at: str
    updated_at: str


class SessionList(BaseModel):
    success: bool = True
    data: list[SessionSummary]
    count: int


class SessionMessage(BaseModel):
    id: int
    role: str
    content: str
    model: str | None = None
    created_at: str


class SessionDetail(SessionSummary):
    messages: list[SessionMessage]


class SessionResponse(BaseModel):
    success: bool = True
    session: SessionDetail


class MessagesRequest(BaseModel):
    """Anthropic's Messages request. ``thinking`` reaches Claude models only; unlisted fields (service_tier, …) are
    accepted and not forwarded."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(..., min_length=1, max_length=200, examples=["anthropic/claude-3.5-haiku"])
    max_tokens: int = Field(..., ge=1, le=1_000_000)
    messages: list[dict[str, Any]] = Field(..., min_length=1, max_length=2000)
    system: str | list[dict[str, Any]] | None = None
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)
    stop_sequences: list[str] | None = Field(None, max_length=16)
    tools: list[dict[str, Any]] | None = Field(None, max_length=128)
    tool_choice: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = Field(None, examples=[{"type": "enabled", "budget_tokens": 1024}])


class CountTokensRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(..., min_length=1, max_length=200)
    messages: list[dict[str, Any]] = Field(..., min_length=1, max_length=2000)
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = Field(None, max_length=128)
    tool_choice: dict[str, Any] | None = None


class CountTokensResponse(BaseModel):
    input_tokens: int


class AnthropicMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    type: str = "message"
    role: str = "assistant"
    model: str
    content: list[dict[str, Any]]
    stop_reason: str | None
    stop_sequence: str | None = None
    usage: dict[str, Any]


class EmbeddingsRequest(StrictBody):
    model: str = Field(..., min_length=1, max_length=200, examples=["openai/text-embedding-3-small"])
    input: str | list[str] | list[int] | list[list[int]] = Field(..., description="a text, texts, or token-id arrays")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1, le=16384)
    user: str | None = Field(None, max_length=200)


class EmbeddingsResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    object: str = "list"
    model: str
    data: list[dict[str, Any]]
    usage: dict[str, int]
