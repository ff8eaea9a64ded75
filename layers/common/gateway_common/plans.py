"""The plan catalog: data shipped with the layer (plans.json), loaded once per process."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from .errors import NotFound, ServiceUnavailable
from .secrets import get_secret
from .settings import get_settings

BillingMode = Literal["prepaid", "ai_included", "byok"]
WINDOW_OF_LIMIT = {
    "requests_per_minute": "minute",
    "requests_per_hour": "hour",
    "requests_per_day": "day",
    "requests_per_month": "month",
}


class PlanLimits(BaseModel):
    requests_per_minute: int | None = None
    requests_per_hour: int | None = None
    requests_per_day: int | None = None
    requests_per_month: int | None = None
    tokens_per_minute: int | None = None

    def windows(self) -> dict[str, int]:
        """Limits by counter window (minute/hour/day/month), unlimited windows left out."""
        return {
            WINDOW_OF_LIMIT[name]: value
            for name, value in self.model_dump().items()
            if value is not None and name in WINDOW_OF_LIMIT
        }


class Plan(BaseModel):
    id: int
    slug: str
    name: str
    plan_name: str
    display_name: str
    plan_type: str
    description: str
    monthly_price: Decimal
    currency: str
    billing_mode: BillingMode
    limits: PlanLimits
    monthly_budget: Decimal | None = None
    features: list[str]
    public: bool = True

    @property
    def is_paid(self) -> bool:
        """Bought as a Stripe subscription (a monthly price above zero)."""
        return self.monthly_price > 0

    @property
    def price_setting(self) -> str:
        """The setting naming this plan's Stripe Price id: an env var locally, ``<NAME>_PARAM`` (SSM) in AWS."""
        return "STRIPE_PRICE_" + self.slug.upper()


class Catalog(BaseModel):
    plans: list[Plan]
    default_plan_id: int
    endpoint_limits: dict[str, dict[str, int]]


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    raw = json.loads((Path(__file__).with_name("plans.json")).read_text())
    return Catalog.model_validate(raw)


def all_plans() -> list[Plan]:
    return list(catalog().plans)


def get_plan(plan_ref: int | str) -> Plan:
    """A plan by numeric id or slug; NotFound otherwise."""
    ref = str(plan_ref).strip().lower()
    for plan in catalog().plans:
        if str(plan.id) == ref or plan.slug == ref:
            return plan
    raise NotFound(f"Plan '{plan_ref}' does not exist; GET /plans lists the plans")


def default_plan() -> Plan:
    return get_plan(catalog().default_plan_id)


def endpoint_limits(route: str) -> dict[str, int]:
    """Per-endpoint windows for a route ('GET /user/balance'): the default, the catalog's figure, then settings."""
    limits = dict(catalog().endpoint_limits["default"])
    limits.update(catalog().endpoint_limits.get(route, {}))
    limits.update(get_settings().endpoint_limits_override.get(route, {}))
    return limits


def stripe_price_id(plan: Plan) -> str | None:
    """The Stripe Price id configured for a plan on this deployment (None when not configured)."""
    if not plan.is_paid:
        return None
    try:
        return get_secret(plan.price_setting, secret=False)  # a Price id: configuration, not a credential
    except Exception:  # noqa: BLE001 - an SSM parameter named but absent is "not configured", never a 500
        from .observability import logger

        logger.warning("stripe price parameter unreadable", extra={"setting": plan.price_setting})
        return None


def require_price_id(plan: Plan) -> str:
    price = stripe_price_id(plan)
    if not price:
        raise ServiceUnavailable(
            f"The {plan.display_name} plan cannot be bought on this deployment: its Stripe Price id setting "
            f"{plan.price_setting} ({plan.price_setting}_PARAM in AWS) is not configured",
            code="plan_price_not_configured",
        )
    return price


def plan_for_price(price_id: str) -> Plan | None:
    """The paid plan whose configured Stripe Price is ``price_id``."""
    for plan in catalog().plans:
        if plan.is_paid and stripe_price_id(plan) == price_id:
            return plan
    return None
