"""The signed-in user's own account and sessions: /api/v1/users/me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from identity.api.dependencies import (
    SESSION_ENDED,
    ClientInfoDep,
    CredentialKitDep,
    CurrentUser,
    LoginThrottleDep,
    session_id_of,
)
from identity.api.schemas import (
    Page,
    PasswordChangeRequest,
    ProfileUpdateRequest,
    ReferralResponse,
    SessionResponse,
    UserResponse,
)
from identity.domain import password_change, referrals, sessions, users
from lib_auth import AuthError, CurrentPrincipal
from lib_runtime.dependencies import UnitOfWorkDep

router = APIRouter(prefix="/api/v1/users/me", tags=["users"])


@router.get("")
async def get_me(principal: CurrentPrincipal, uow: UnitOfWorkDep) -> UserResponse:
    # CurrentUser's session check and the read as one statement: the hottest end-user route.
    user = await users.get_signed_in_user(uow, principal.user_id, session_id_of(principal))
    if user is None:
        raise AuthError(SESSION_ENDED)
    return UserResponse.of(user)


@router.patch("")
async def update_me(
    body: ProfileUpdateRequest, me: CurrentUser, uow: UnitOfWorkDep
) -> UserResponse:
    changes = body.model_dump(include=body.model_fields_set)
    return UserResponse.of(await users.update_profile(uow, me.user_id, changes))


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def delete_me(me: CurrentUser, uow: UnitOfWorkDep, client: ClientInfoDep) -> None:
    await users.delete_user(uow, me.user_id, client)


@router.get("/sessions")
async def list_my_sessions(
    me: CurrentUser,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    offset: Annotated[int | None, Query(ge=0, le=10_000)] = None,
) -> Page[SessionResponse]:
    page = await sessions.list_my_sessions(
        uow, me.user_id, limit=limit, cursor=cursor, offset=offset
    )
    return Page[SessionResponse](
        items=[SessionResponse.of(s, current_session_id=me.session_id) for s in page.sessions],
        next_cursor=page.next_cursor,
    )


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_my_session(
    session_id: str, me: CurrentUser, uow: UnitOfWorkDep, client: ClientInfoDep
) -> None:
    await sessions.revoke_my_session(uow, me.user_id, session_id, client)


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_my_password(
    body: PasswordChangeRequest,
    me: CurrentUser,
    uow: UnitOfWorkDep,
    kit: CredentialKitDep,
    throttle: LoginThrottleDep,
    client: ClientInfoDep,
) -> None:
    """Every other session is signed out; this one stays."""
    await password_change.change_password(
        uow,
        kit,
        throttle,
        user_id=me.user_id,
        session_id=me.session_id,
        current_password=body.current_password,
        new_password=body.new_password,
        client=client,
    )


@router.get("/referrals")
async def list_my_referrals(
    me: CurrentUser,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[ReferralResponse]:
    page = await referrals.list_my_referrals(uow, me.user_id, limit=limit, cursor=cursor)
    return Page[ReferralResponse](
        items=[ReferralResponse.of(entry) for entry in page.entries],
        next_cursor=page.next_cursor,
    )
