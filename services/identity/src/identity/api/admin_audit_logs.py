"""Admins' view of the audit log: /api/v1/admin/audit-logs (ADMIN or SUPER_ADMIN)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from identity.api.dependencies import CurrentAdmin
from identity.api.schemas import AuditLogResponse, Page
from identity.domain.audit import AuditAction
from identity.domain.audit_search import AuditLogFilter, list_audit_logs
from lib_runtime.dependencies import UnitOfWorkDep

router = APIRouter(prefix="/api/v1/admin/audit-logs", tags=["admin"])


@router.get("")
async def search_audit_logs(
    _admin: CurrentAdmin,
    uow: UnitOfWorkDep,
    user_id: Annotated[str | None, Query(alias="userId", max_length=64)] = None,
    action: AuditAction | None = None,
    since: Annotated[AwareDatetime | None, Query(description="from this time on")] = None,
    until: Annotated[AwareDatetime | None, Query(description="before this time")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[AuditLogResponse]:
    wanted = AuditLogFilter(user_id=user_id, action=action, since=since, until=until)
    page = await list_audit_logs(uow, wanted, limit=limit, cursor=cursor)
    return Page[AuditLogResponse](
        items=[AuditLogResponse.of(entry) for entry in page.entries],
        next_cursor=page.next_cursor,
    )
