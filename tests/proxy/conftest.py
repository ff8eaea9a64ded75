"""Fixtures of the LLM proxy tests: provider credentials (fake), no retry backoff, paying users."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway_common import apikeys, catalog, db, ledger, plans, users

PROVIDER_KEYS = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "PORTKEY_API_KEY",
                 "FEATHERLESS_API_KEY", "CHUTES_API_KEY")


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAM_BACKOFF_SECONDS", "0")
    for name in PROVIDER_KEYS:  # a developer's real keys must never reach a test
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_PARAM", raising=False)
    db.get_settings.cache_clear()
    catalog.clear_cache()


@pytest.fixture
def providers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials for OpenAI, OpenRouter and Anthropic (respx answers for them)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")


def make_payer(name: str, credits: Decimal, plan: str = "pro", environment: str = "live") -> dict[str, Any]:
    user = users.create_user(username=name, email=f"{name}@example.com", plan_id=plans.get_plan(plan).id)
    if credits:
        ledger.credit(user_id=user.user_id, amount=credits, entry_id=f"test:{name}", reason="test credits")
    raw, record = apikeys.create_gw_key(user_id=user.user_id, key_name=name, environment=environment)
    return {"user_id": user.user_id, "key": raw, "key_id": record.key_id}


@pytest.fixture
def payer(dynamo: Any) -> dict[str, Any]:
    """A Pro-plan user with 10.00 credits and a live key."""
    return make_payer("payer", Decimal("10.00"))
