"""HTTP edge of the admin group."""

from __future__ import annotations

from fastapi import APIRouter, Header, Request

from gateway_common.auth import Caller
from gateway_common.web import authorized, request_meta

from . import corrections, logic
from .schemas import (
    AddCreditsRequest,
    AddCreditsResponse,
    CreateUserRequest,
    CreateUserResponse,
    UsageCorrectionRequest,
    UsageCorrectionResponse,
)

router = APIRouter(tags=["admin"])


@router.post("/admin/create", response_model=CreateUserResponse, summary="Create a user account (admin)")
def create_user(
    body: CreateUserRequest, request: Request, caller: Caller = authorized("admin", admin=True)
) -> CreateUserResponse:
    user, raw_key, balance = logic.create_account(
        caller,
        username=body.username,
        email=body.email,
        auth_method=body.auth_method,
        environment=body.environment_tag,
        plan_ref=body.plan_id,
        initial_credits=body.initial_credits,
        meta=request_meta(request),
    )
    return CreateUserResponse(
        user_id=user.user_id, username=user.username, email=body.email, api_key=raw_key, credits=balance,
        plan_id=user.plan_id,
    )


@router.post("/admin/add_credits", response_model=AddCreditsResponse, summary="Add credits to a user (admin)")
def add_credits(
    body: AddCreditsRequest,
    request: Request,
    caller: Caller = authorized("admin", admin=True),
    idempotency_key: str | None = Header(
        None, min_length=1, max_length=200,
        description="Retries with the same key credit once; the same key with a different grant is a 409"
    ),
) -> AddCreditsResponse:
    result = logic.add_credits(
        caller,
        user_id=str(body.user_id),
        amount=body.credits,
        reason=body.reason,
        idempotency_key=idempotency_key,
        meta=request_meta(request),
    )
    message = "Credits added successfully" if result.applied else "Already applied for this Idempotency-Key"
    return AddCreditsResponse(message=message, new_balance=result.balance, applied=result.applied)


@router.post("/admin/usage/corrections", response_model=UsageCorrectionResponse,
             summary="Refund or re-price a metered request (admin): a new usage record, audited")
def correct_usage(
    body: UsageCorrectionRequest,
    request: Request,
    caller: Caller = authorized("admin", admin=True),
    idempotency_key: str | None = Header(
        None, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$", description="Retries with the same key correct once"
    ),
) -> UsageCorrectionResponse:
    result = corrections.correct(
        caller, user_id=body.user_id, request_id=body.request_id, kind=body.kind,
        amount=body.new_cost if body.kind == "reprice" else body.amount, reason=body.reason,
        correction_id=f"corr_{idempotency_key}" if idempotency_key else None, meta=request_meta(request),
    )
    return UsageCorrectionResponse(
        applied=result.applied, correction_id=result.correction_id, request_id=result.request_id,
        cost_change=result.cost_change, net_cost=result.net_cost, currency=result.currency,
    )
