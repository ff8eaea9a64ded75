"""Fixtures of the accounts/administration tests: a configured Privy app and two ordinary users."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_common import apikeys, plans, users

from .privy_tokens import APP_ID, Signer, make_signer


@pytest.fixture
def privy(monkeypatch: pytest.MonkeyPatch) -> Signer:
    signer = make_signer()
    monkeypatch.setenv("PRIVY_APP_ID", APP_ID)
    monkeypatch.setenv("PRIVY_VERIFICATION_KEY", signer.public_pem)
    monkeypatch.setenv("PRIVY_SESSION_TTL_SECONDS", "3600")
    return signer


def make_user(name: str, *, role: str = "user", plan: str = "free") -> dict[str, Any]:
    user = users.create_user(username=name, email=f"{name}@example.com", plan_id=plans.get_plan(plan).id, role=role)
    raw, record = apikeys.create_gw_key(user_id=user.user_id, key_name=f"{name} key", environment="live")
    return {"user_id": user.user_id, "key": raw, "key_id": record.key_id, "email": user.email, "masked": record.masked}
