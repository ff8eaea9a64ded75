"""HTTP edge of the license group."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from gateway_common.auth import Caller
from gateway_common.money import Money
from gateway_common.web import authorized

from .usage_schemas import LicenseLimits

router = APIRouter(tags=["license"])


class LicensePlan(BaseModel):
    id: int
    name: str
    display_name: str
    price: Money
    currency: str
    billing_mode: str
    ai_included: bool


class ValidateResponse(BaseModel):
    status: str = "success"
    valid: bool
    license_key: str
    user_id: str
    plan: LicensePlan
    limits: LicenseLimits
    features: list[str]


@router.post("/api/validate", response_model=ValidateResponse, summary="Validate a license key and get its plan")
def validate(caller: Caller = authorized("license")) -> ValidateResponse:
    plan = caller.plan
    windows = caller.plan_windows()
    return ValidateResponse(
        valid=True,
        license_key=caller.key.masked,
        user_id=caller.user_id,
        plan=LicensePlan(
            id=plan.id,
            name=plan.name,
            display_name=plan.display_name,
            price=plan.monthly_price,
            currency=plan.currency,
            billing_mode=plan.billing_mode,
            ai_included=plan.billing_mode != "byok",
        ),
        limits=LicenseLimits(**LicenseLimits.fields_from(windows, plan.monthly_budget)),
        features=plan.features,
    )
