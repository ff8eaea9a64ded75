"""Demo data for the local gateway: an admin, a live user with 25.00 credits, a sandbox key, and the two license
keys of the usage/limits API document (so its curl examples work verbatim against localhost)."""

from __future__ import annotations

from decimal import Decimal

from gateway_common import apikeys, ledger, plans, users

PRO_LICENSE = "CHA-B21AF1CF-BD99A579-01F8A4C0-ECFA58EB"
STARTER_LICENSE = "CHA-F0E17C9E-4A7164DE-29427E34-AB0EA5EC"
DEMO_CREDITS = Decimal("25.00")


def _user(username: str, email: str, plan_slug: str, role: str = "user") -> users.UserRecord:
    existing = users.find_by_email(email)
    if existing is not None:
        return existing
    plan = plans.get_plan(plan_slug)
    return users.create_user(username=username, email=email, plan_id=plan.id, role=role, currency=plan.currency)


def _license(raw: str, user: users.UserRecord, plan_slug: str) -> str:
    if apikeys.get_key(apikeys.key_id_for_hash(apikeys.hash_key(raw))) is None:
        apikeys.store_key(raw, user_id=user.user_id, key_name=f"{plan_slug} license", plan_id=plans.get_plan(plan_slug).id)
    return raw


def seed_demo() -> dict[str, dict[str, str]]:
    """Create the demo accounts; returns each demo key with what it is for."""
    admin = _user("admin", "admin@gateway.local", "enterprise", role="admin")
    demo = _user("demo", "demo@gateway.local", "free")
    pro = _user("chatello-pro", "pro@license.local", "license_pro")
    starter = _user("chatello-starter", "starter@license.local", "license_starter")

    ledger.credit(user_id=demo.user_id, amount=DEMO_CREDITS, entry_id="seed:demo", reason="demo credits")
    admin_key, _ = apikeys.create_gw_key(user_id=admin.user_id, key_name="Local admin", environment="live")
    live_key, _ = apikeys.create_gw_key(user_id=demo.user_id, key_name="Demo live key", environment="live")
    test_key, _ = apikeys.create_gw_key(user_id=demo.user_id, key_name="Demo sandbox key", environment="test")
    return {
        "admin": {"key": admin_key, "user_id": admin.user_id, "about": "admin role, Enterprise plan"},
        "live": {"key": live_key, "user_id": demo.user_id, "about": "Free plan, 25.00 credits"},
        "test": {"key": test_key, "user_id": demo.user_id, "about": "sandbox: built-in model, never charged"},
        "license_pro": {
            "key": _license(PRO_LICENSE, pro, "license_pro"), "user_id": pro.user_id,
            "about": "license, Pro - AI included (10/min, 200/h, 1000/month, 4.00 EUR budget)",
        },
        "license_starter": {
            "key": _license(STARTER_LICENSE, starter, "license_starter"), "user_id": starter.user_id,
            "about": "license, Starter - BYOK (no AI proxy)",
        },
    }
