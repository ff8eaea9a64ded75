"""The plan catalog: data shipped with the layer (plans.json), loaded once per process."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from .errors import NotFound
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
