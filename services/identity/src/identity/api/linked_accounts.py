"""The signed-in user's linked provider accounts: /api/v1/users/me/accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from identity.api.dependencies import ClientInfoDep, CurrentUser
from identity.api.schemas import LinkedAccountResponse, Page
from identity.domain import provider_accounts
from lib_runtime.dependencies import UnitOfWorkDep

router = APIRouter(prefix="/api/v1/users/me/accounts", tags=["users"])


@router.get("")
async def list_my_accounts(
    me: CurrentUser,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[LinkedAccountResponse]:
    page = await provider_accounts.list_my_accounts(uow, me.user_id, limit=limit, cursor=cursor)
    return Page[LinkedAccountResponse](
        items=[LinkedAccountResponse.of(a) for a in page.accounts], next_cursor=page.next_cursor
    )


@router.delete("/{account_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unlink_my_account(
    account_id: str, me: CurrentUser, uow: UnitOfWorkDep, client: ClientInfoDep
) -> None:
    await provider_accounts.unlink_my_account(uow, me.user_id, account_id, client)
