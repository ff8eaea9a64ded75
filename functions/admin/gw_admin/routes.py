"""HTTP edge of the admin group."""

from __future__ import annotations

from fastapi import APIRouter, Header, Request

from gateway_common.auth import Caller
from gateway_common.web import authorized, request_meta

from . import logic
from .schemas import AddCreditsRequest, AddCreditsResponse, CreateUserRequest, CreateUserResponse

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
