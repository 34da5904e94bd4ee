"""Admins' view of other users: /api/v1/admin/users (ADMIN or SUPER_ADMIN)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from identity.api.dependencies import ClientInfoDep, CurrentAdmin
from identity.api.schemas import Page, RoleChangeRequest, UserResponse
from identity.domain import admin_users
from identity.models import UserRole
from lib_runtime.dependencies import UnitOfWorkDep

router = APIRouter(prefix="/api/v1/admin/users", tags=["admin"])


@router.get("")
async def search_users(
    _admin: CurrentAdmin,
    uow: UnitOfWorkDep,
    query: Annotated[
        str | None, Query(max_length=254, description="part of the email or name, any case")
    ] = None,
    role: UserRole | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[UserResponse]:
    page = await admin_users.search_users(uow, query=query, role=role, limit=limit, cursor=cursor)
    return Page[UserResponse](
        items=[UserResponse.of(user) for user in page.users], next_cursor=page.next_cursor
    )


@router.patch("/{user_id}/role")
async def change_role(
    user_id: str,
    body: RoleChangeRequest,
    admin: CurrentAdmin,
    uow: UnitOfWorkDep,
    client: ClientInfoDep,
) -> UserResponse:
    user = await admin_users.change_role(
        uow, actor_id=admin.user_id, user_id=user_id, role=body.role, client=client
    )
    return UserResponse.of(user)
