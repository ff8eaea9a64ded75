"""Types shared by the adapters: usage, results, and the provider error that routing understands."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from ..redaction import redact
from . import pdf_pages

if TYPE_CHECKING:
    import httpx


@dataclass
class Usage:
    """Token counts in OpenAI's meaning: ``prompt_tokens`` is every input token, of which ``cached_tokens`` were read
    from the provider's prompt cache and ``cache_write_tokens`` written to it (Anthropic's cache_read_input_tokens /
    cache_creation_input_tokens, which Anthropic counts apart from its input_tokens)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    provider_cost: Decimal | None = None  # what the provider says it charged (OpenRouter usage.cost), USD
    estimated: bool = False
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_openai(self) -> dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens,
                "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "cache_write_tokens": self.cache_write_tokens},
                "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens}}

    @classmethod
    def from_openai(cls, raw: Any) -> Usage | None:
        """An OpenAI usage object (with OpenRouter's ``cost``), None when it has no counts."""
        if not isinstance(raw, dict) or "prompt_tokens" not in raw:
            return None
        cost = raw.get("cost")
        prompt_details = raw.get("prompt_tokens_details") or {}
        completion_details = raw.get("completion_tokens_details") or {}
        return cls(prompt_tokens=int(raw.get("prompt_tokens") or 0),
                   completion_tokens=int(raw.get("completion_tokens") or 0),
                   provider_cost=Decimal(str(cost)) if cost is not None else None,
                   cached_tokens=int(prompt_details.get("cached_tokens") or 0),
                   cache_write_tokens=int(prompt_details.get("cache_write_tokens") or 0),
                   reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0))


@dataclass
class Completion:
    body: dict[str, Any]  # an OpenAI chat.completion object
    usage: Usage
    provider: str
    route: str  # "<provider>:<upstream model>"


@dataclass
class ImageResult:
    data: list[dict[str, Any]]  # OpenAI image objects: {"url"| "b64_json", "revised_prompt"}
    images: int
    provider: str
    route: str
    created: int = 0
    usage: dict[str, Any] | None = None  # GPT image models: OpenAI's ImagesUsage (tokens), as the provider gave it


@dataclass
class EmbeddingResult:
    vectors: list[list[float]]  # one per input, in input order
    usage: Usage
    provider: str
    route: str


class ProviderError(Exception):
    """An upstream failure. ``retryable`` ones (429, 5xx, timeouts, connection errors) move on to a retry/next route."""

    def __init__(self, provider: str, message: str, *, status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        message = redact(message)  # upstream text may echo our key: filtered here, before any path can carry it
        super().__init__(message)
        self.provider = provider
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after  # seconds, from the provider's Retry-After / retry-after-ms header

    def describe(self) -> str:
        where = f"HTTP {self.status}" if self.status else "no response"
        return f"{self.provider} ({where}): {self.message}"


class StreamBroken(Exception):
    """The upstream stream failed after the first chunk reached the client (no retry is possible then).
    ``prompt_tokens``: the provider's own prompt count when it gave one before breaking (Anthropic's message_start)."""

    def __init__(self, message: str, prompt_tokens: int | None = None) -> None:
        message = redact(message)  # it goes to the client in the SSE error event
        super().__init__(message)
        self.message = message
        self.prompt_tokens = prompt_tokens


def retryable_status(status: int) -> bool:
    return status == 429 or status >= 500 or status in (404, 408)


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """The provider's Retry-After (seconds or an HTTP date) or retry-after-ms (OpenAI), in seconds; None if absent."""
    try:
        if headers.get("retry-after-ms"):
            return max(float(headers["retry-after-ms"]) / 1000, 0.0)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(float(value), 0.0)
        except ValueError:
            from datetime import UTC, datetime

            return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
    except (ValueError, TypeError, OverflowError):
        return None


async def raise_for_status(provider: str, response: httpx.Response, *, also_retryable: tuple[int, ...] = ()) -> None:
    """A ProviderError carrying the provider's own message (and Retry-After) for an HTTP error response."""
    if response.status_code < 400:
        return
    raw = await response.aread()
    try:
        payload: Any = json.loads(raw)
    except ValueError:
        payload = None
    status = response.status_code
    raise ProviderError(provider, error_message(payload, raw.decode(errors="replace") or response.reason_phrase),
                        status=status, retryable=retryable_status(status) or status in also_retryable,
                        retry_after=retry_after_seconds(response.headers))


def message_text(content: Any) -> str:
    """The text of an OpenAI message content (a string or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return str(content)


MEDIA_PART_TOKENS = 1600  # an image / audio part: above what OpenAI (~1105 high detail) or Anthropic (~1600) count
PROMPT_EXTRAS = ("tools", "functions", "response_format")  # request fields the provider counts as prompt tokens


PDF_PAGE_TOKENS = 4000  # a PDF page: its text (Anthropic: 1,500-3,000 tokens) and its page image


def _part_tokens(part: dict[str, Any], budget: pdf_pages.Budget) -> int:
    """A PDF file part counts its pages; any other media part (image, audio) ``MEDIA_PART_TOKENS``."""
    file = part.get("file") if part.get("type") == "file" else None
    data = file.get("file_data") if isinstance(file, dict) else None
    if isinstance(data, str) and data.startswith("data:application/pdf"):
        blob = pdf_pages.pdf_bytes(data)
        if blob is not None:
            return PDF_PAGE_TOKENS * pdf_pages.count(blob, budget)
    return MEDIA_PART_TOKENS


def _media_tokens(content: Any, budget: pdf_pages.Budget) -> int:
    if not isinstance(content, list):
        return 0
    return sum(_part_tokens(part, budget) for part in content
               if isinstance(part, dict) and part.get("type") not in ("text", "input_text"))


def estimate_prompt_tokens(messages: list[dict[str, Any]], body: dict[str, Any] | None = None) -> int:
    """A deliberately generous estimate (about 3 characters a token, plus per-message overhead): used to reserve.
    Image/audio parts count ``MEDIA_PART_TOKENS`` each, a PDF ``PDF_PAGE_TOKENS`` a page; tool calls, and with
    ``body`` its tool definitions and response schema, count as their JSON text."""
    chars = 0
    media = 0
    budget = pdf_pages.Budget()  # one inflation allowance for every PDF of the request
    for m in messages:
        chars += len(message_text(m.get("content"))) + len(str(m.get("name", "")))
        if m.get("tool_calls"):
            chars += len(json.dumps(m["tool_calls"], default=str))
        if m.get("thinking_blocks"):  # Claude's thinking resent in a tool loop counts as input
            chars += len(json.dumps(m["thinking_blocks"], default=str))
        media += _media_tokens(m.get("content"), budget)
    for name in PROMPT_EXTRAS if body else ():
        if body and body.get(name):
            chars += len(json.dumps(body[name], default=str))
    return math.ceil(chars / 3) + 4 * len(messages) + 3 + media


def estimate_text_tokens(text: str) -> int:
    """Estimate of produced tokens when the provider reports none (about 4 characters a token)."""
    return math.ceil(len(text) / 4) if text else 0


def error_message(payload: Any, fallback: str) -> str:
    if isinstance(payload, dict):
        err = payload.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:500]
        if isinstance(err, str):
            return err[:500]
        if payload.get("message"):
            return str(payload["message"])[:500]
        if payload.get("detail"):
            return str(payload["detail"])[:500]
    return fallback[:500]
