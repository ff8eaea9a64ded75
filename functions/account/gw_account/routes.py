"""HTTP edge of the account group."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from fastapi import APIRouter, Request

from gateway_common import apikeys, plans
from gateway_common.auth import Caller
from gateway_common.models import KeyCaps
from gateway_common.schemas import MessageResponse
from gateway_common.timeutil import iso
from gateway_common.web import authorized, request_meta

from . import logic
from .schemas import (
    BalanceResponse,
    CapsView,
    CreateKeyRequest,
    CreateKeyResponse,
    KeyCapsInput,
    KeyList,
    KeyView,
    PlanDetail,
    PlanList,
    PlanView,
    UpdateKeyRequest,
    UserPlanResponse,
    UserPlanView,
)

router = APIRouter()


def _caps(record: apikeys.ApiKeyRecord, spent: Decimal | None = None) -> CapsView | None:
    if record.caps is None:
        return None
    return CapsView(**record.caps.model_dump(), spent_this_month=spent)


def _expiry(record: apikeys.ApiKeyRecord) -> str | None:
    return iso(datetime.fromtimestamp(record.expires_at, tz=UTC)) if record.expires_at is not None else None


def _view(record: apikeys.ApiKeyRecord, spent: Decimal | None = None) -> KeyView:
    return KeyView(
        id=record.key_id,
        key_name=record.key_name,
        api_key=record.masked,
        environment_tag=record.environment,
        is_active=record.is_active,
        scope_permissions=record.scope_permissions,
        created_at=record.created_at,
        updated_at=record.updated_at,
        caps=_caps(record, spent),
        expires_at=_expiry(record),
    )


def _epoch(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def _key_caps(caps: KeyCapsInput | None) -> KeyCaps | None:
    if caps is None:
        return None
    values = caps.model_dump()
    return KeyCaps(**values) if any(v is not None for v in values.values()) else None


@router.get("/user/balance", response_model=BalanceResponse, tags=["account"], summary="Credit balance and status")
def balance(caller: Caller = authorized("balance")) -> BalanceResponse:
    user = logic.fresh_user(caller)
    return BalanceResponse(
        api_key=caller.key.masked,
        credits=user.credits,
        available_credits=user.available,
        currency=user.currency,
        status=user.status,
        user_id=user.user_id,
    )


@router.post("/user/api-keys", response_model=CreateKeyResponse, tags=["api keys"], summary="Create an API key")
def create_key(body: CreateKeyRequest, request: Request, caller: Caller = authorized("api_keys")) -> CreateKeyResponse:
    scopes = body.scope_permissions.model_dump()
    raw, record = logic.create_key(
        caller, key_name=body.key_name, environment=body.environment_tag, scopes=scopes, meta=request_meta(request),
        caps=_key_caps(body.caps), expires_at=_epoch(body.expires_at),
    )
    return CreateKeyResponse(
        api_key=raw,
        key_id=record.key_id,
        key_name=record.key_name,
        environment_tag=record.environment,
        scope_permissions=record.scope_permissions,
        created_at=record.created_at,
        caps=_caps(record),
        expires_at=_expiry(record),
    )


@router.get("/user/api-keys", response_model=KeyList, tags=["api keys"], summary="List the caller's keys (masked)")
def list_keys(caller: Caller = authorized("api_keys")) -> KeyList:
    records = apikeys.list_user_keys(caller.user_id)
    views = [_view(r, logic.key_spent(r)) for r in records]
    return KeyList(data=views, count=len(views))


@router.put("/user/api-keys/{key_id}", response_model=MessageResponse, tags=["api keys"], summary="Rename or (de)activate a key")
def update_key(
    key_id: str, body: UpdateKeyRequest, request: Request, caller: Caller = authorized("api_keys")
) -> MessageResponse:
    sent = body.model_fields_set
    logic.update_key(
        caller, key_id, key_name=body.key_name, is_active=body.is_active, meta=request_meta(request),
        caps=_key_caps(body.caps) if "caps" in sent else apikeys._UNSET,
        expires_at=_epoch(body.expires_at) if "expires_at" in sent else apikeys._UNSET,
    )
    return MessageResponse(message="API key updated successfully")


@router.delete("/user/api-keys/{key_id}", response_model=MessageResponse, tags=["api keys"], summary="Delete a key")
def delete_key(key_id: str, request: Request, caller: Caller = authorized("api_keys")) -> MessageResponse:
    logic.delete_key(caller, key_id, meta=request_meta(request))
    return MessageResponse(message="API key deleted successfully")


@router.get("/plans", response_model=PlanList, tags=["plans"], summary="All plans (public)")
def list_plans() -> PlanList:
    views = [PlanView.of(p) for p in plans.all_plans() if p.public]
    return PlanList(data=views, count=len(views))


@router.get("/plans/{plan_id}", response_model=PlanDetail, tags=["plans"], summary="One plan by id or slug (public)")
def get_plan(plan_id: str) -> PlanDetail:
    return PlanDetail(plan=PlanView.of(plans.get_plan(plan_id)))


@router.get("/user/plan", response_model=UserPlanResponse, tags=["plans"], summary="The caller's plan and period")
def user_plan(caller: Caller = authorized("plans")) -> UserPlanResponse:
    user = logic.fresh_user(caller)
    plan = plans.get_plan(caller.key.plan_id if caller.key.plan_id is not None else user.plan_id)
    start, end = logic.current_period(user.plan_started_at)
    view = UserPlanView(
        **PlanView.of(plan).model_dump(), status=user.subscription_status, start_date=iso(start), end_date=iso(end)
    )
    return UserPlanResponse(plan=view)
