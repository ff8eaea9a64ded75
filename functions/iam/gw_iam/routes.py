"""HTTP edge of the IAM group: every route needs the admin role."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Request

from gateway_common import users
from gateway_common.auth import Caller
from gateway_common.web import authorized, request_meta

from . import logic
from .schemas import (
    AuditLogList,
    AuditVerifyResponse,
    RateLimitsResponse,
    RemoveRateLimitsResponse,
    RoleList,
    RoleResponse,
    SetRateLimitsRequest,
    SetRateLimitsResponse,
    UpdateRoleRequest,
    UpdateRoleResponse,
)

router = APIRouter()

# A user id in the path: ids are short ('user_' + 16 hex); the bound keeps DynamoDB key limits out of reach.
UserIdPath = Path(..., min_length=1, max_length=100, description="The user's id")


@router.get("/roles", response_model=RoleList, tags=["roles"], summary="Users and their roles (admin)")
def list_roles(
    role: logic.RoleName | None = Query(None, description="Only users with this role"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=100_000),
    caller: Caller = authorized("roles", admin=True),
) -> RoleList:
    rows, total = logic.list_roles(role, limit=limit, offset=offset)
    return RoleList(data=rows, total=total, limit=limit, offset=offset, permissions=logic.ROLE_PERMISSIONS)  # type: ignore[arg-type]


@router.get("/roles/{user_id}", response_model=RoleResponse, tags=["roles"], summary="A user's role and permissions (admin)")
def get_role(user_id: str = UserIdPath, caller: Caller = authorized("roles", admin=True)) -> RoleResponse:
    return RoleResponse(**logic.role_view(users.require_user(user_id)))


@router.put("/roles/{user_id}", response_model=UpdateRoleResponse, tags=["roles"], summary="Change a user's role (admin)")
def update_role(
    body: UpdateRoleRequest, request: Request, user_id: str = UserIdPath, caller: Caller = authorized("roles", admin=True)
) -> UpdateRoleResponse:
    change = logic.change_role(caller, user_id, new_role=body.role, reason=body.reason, meta=request_meta(request))
    message = "Role updated successfully" if change.changed else f"User already has the role '{change.new_role}'"
    return UpdateRoleResponse(
        message=message, user_id=user_id, old_role=change.old_role, new_role=change.new_role, updated_at=change.updated_at
    )


@router.get("/admin/rate-limits/{user_id}", response_model=RateLimitsResponse, tags=["rate limits"],
            summary="A user's limits, override and current usage (admin)")
def get_rate_limits(user_id: str = UserIdPath, caller: Caller = authorized("rate_limits", admin=True)) -> RateLimitsResponse:
    return RateLimitsResponse(**logic.limits_view(user_id))


@router.post("/admin/rate-limits", response_model=SetRateLimitsResponse, tags=["rate limits"],
             summary="Override a user's limits on all their keys (admin)")
def set_rate_limits(
    body: SetRateLimitsRequest, request: Request, caller: Caller = authorized("rate_limits", admin=True)
) -> SetRateLimitsResponse:
    override = logic.set_limits(
        caller, body.user_id, minute=body.requests_per_minute, hour=body.requests_per_hour, day=body.requests_per_day,
        custom_limits=body.custom_limits, reason=body.reason, meta=request_meta(request),
        tokens_per_minute=body.tokens_per_minute,
    )
    return SetRateLimitsResponse(
        message="Rate limits updated successfully", user_id=body.user_id,
        rate_limits=override.model_dump(include={"requests_per_minute", "requests_per_hour", "requests_per_day",
                                                 "custom_limits"}),  # type: ignore[arg-type]
        reason=override.reason, set_by=override.set_by, set_at=override.set_at,
    )


@router.delete("/admin/rate-limits/{user_id}", response_model=RemoveRateLimitsResponse, tags=["rate limits"],
               summary="Remove a user's override: the plan's limits apply again (admin)")
def remove_rate_limits(
    request: Request,
    user_id: str = UserIdPath,
    reason: str = Query(..., min_length=1, max_length=500, description="Why: kept in the audit log"),
    caller: Caller = authorized("rate_limits", admin=True),
) -> RemoveRateLimitsResponse:
    removed = logic.remove_limits(caller, user_id, reason=reason, meta=request_meta(request))
    message = "Rate limit override removed: the plan's limits apply" if removed else "No override was set"
    return RemoveRateLimitsResponse(message=message, user_id=user_id, removed=removed)


@router.get("/admin/audit-logs", response_model=AuditLogList, tags=["audit"],
            summary="The audit log, newest first (admin; read only: entries cannot be changed or deleted)")
def audit_logs(
    user_id: str | None = Query(None, min_length=1, max_length=100, description="Entries by this actor"),
    action: str | None = Query(None, min_length=1, max_length=64,
                               description="e.g. role_changed, rate_limits_set, api_key_created"),
    resource_type: str | None = Query(None, min_length=1, max_length=64,
                                      description="e.g. user, api_key, credits, rate_limits"),
    start_date: str | None = Query(None, min_length=1, max_length=40, description="YYYY-MM-DD or ISO 8601 time (inclusive)"),
    end_date: str | None = Query(None, min_length=1, max_length=40,
                                 description="YYYY-MM-DD (the whole day) or ISO 8601 time (inclusive); later than now means now"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=100_000),
    caller: Caller = authorized("audit_logs", admin=True),
) -> AuditLogList:
    rows, total = logic.audit_logs(user_id=user_id, action=action, resource_type=resource_type, start_date=start_date,
                                   end_date=end_date, limit=limit, offset=offset)
    return AuditLogList(data=rows, total=total, limit=limit, offset=offset)  # type: ignore[arg-type]


@router.get("/admin/audit-logs/verify", response_model=AuditVerifyResponse, tags=["audit"],
            summary="Walk the audit log's hash chain over a range of months and report the first broken link (admin)")
def verify_audit_logs(
    start_date: str | None = Query(None, min_length=1, max_length=40, description="YYYY-MM-DD or ISO 8601; its month"
                                   " is the first walked (default: 12 months before end_date)"),
    end_date: str | None = Query(None, min_length=1, max_length=40, description="YYYY-MM-DD or ISO 8601; its month is"
                                 " the last walked (default and at most: now)"),
    caller: Caller = authorized("audit_logs", admin=True),
) -> AuditVerifyResponse:
    return logic.verify_audit_chain(start_date=start_date, end_date=end_date)
