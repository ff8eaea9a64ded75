"""Provider configuration: base URL, where the key comes from, how it is sent, extra headers.

A provider's key is ``secrets.get_secret(<secret>)`` (env locally, SSM/Secrets Manager in AWS). ``<SLUG>_BASE_URL``
overrides the base URL (a local fake upstream in benchmarks and tests, or a proxy).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..secrets import get_secret


@dataclass(frozen=True)
class ProviderConfig:
    slug: str
    name: str
    kind: str  # "openai" (OpenAI-compatible) | "anthropic" | "sandbox"
    base_url: str
    secret: str | None
    auth_header: str = "Authorization"
    auth_prefix: str = "Bearer "
    extra_headers: dict[str, str] = field(default_factory=dict)
    official_url: str = ""
    supports_images: bool = False
    wants_usage_include: bool = False  # OpenRouter: body {"usage": {"include": true}} returns usage.cost

    def url(self) -> str:
        return os.environ.get(f"{self.slug.upper()}_BASE_URL", self.base_url).rstrip("/")

    def api_key(self) -> str | None:
        return get_secret(self.secret) if self.secret else None

    def configured(self) -> bool:
        """Whether a key is configured (the value locally, ``<NAME>_PARAM`` in AWS), without fetching it."""
        return bool(self.secret and (os.environ.get(self.secret) or os.environ.get(f"{self.secret}_PARAM")))

    def headers(self, key: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self.extra_headers}
        if key:
            headers[self.auth_header] = f"{self.auth_prefix}{key}"
        if self.slug == "portkey":
            virtual = get_secret("PORTKEY_VIRTUAL_KEY")
            if virtual:
                headers["x-portkey-virtual-key"] = virtual
        return headers


PROVIDERS: dict[str, ProviderConfig] = {
    p.slug: p
    for p in (
        ProviderConfig("openrouter", "OpenRouter", "openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY",
                       extra_headers={"HTTP-Referer": "https://github.com/ai-gateway", "X-Title": "AI Gateway"},
                       official_url="https://openrouter.ai", wants_usage_include=True),
        ProviderConfig("portkey", "Portkey", "openai", "https://api.portkey.ai/v1", "PORTKEY_API_KEY",
                       auth_header="x-portkey-api-key", auth_prefix="", official_url="https://portkey.ai"),
        ProviderConfig("featherless", "Featherless", "openai", "https://api.featherless.ai/v1", "FEATHERLESS_API_KEY",
                       official_url="https://featherless.ai"),
        ProviderConfig("chutes", "Chutes", "openai", "https://llm.chutes.ai/v1", "CHUTES_API_KEY",
                       official_url="https://chutes.ai"),
        ProviderConfig("openai", "OpenAI", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY",
                       official_url="https://openai.com", supports_images=True),
        ProviderConfig("deepseek", "DeepSeek", "openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY",
                       official_url="https://www.deepseek.com"),
        ProviderConfig("anthropic", "Anthropic", "anthropic", "https://api.anthropic.com/v1", "ANTHROPIC_API_KEY",
                       auth_header="x-api-key", auth_prefix="", extra_headers={"anthropic-version": "2023-06-01"},
                       official_url="https://www.anthropic.com"),
        ProviderConfig("sandbox", "Sandbox", "sandbox", "", None),
    )
}

GATEWAYS = ("openrouter", "portkey", "featherless", "chutes")
