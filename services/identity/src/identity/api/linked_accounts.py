"""The signed-in user's linked provider accounts: /api/v1/users/me/accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from identity.api.dependencies import ClientInfoDep, CurrentUser, OidcSignInDep
from identity.api.oauth import set_flow_cookie
from identity.api.schemas import AuthorizationUrlResponse, LinkedAccountResponse, Page
from identity.domain import provider_accounts
from identity.oidc.sign_in import LinkRequest
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


@router.post("/{provider}/link")
async def start_linking(
    provider: str, me: CurrentUser, request: Request, response: Response, sign_in: OidcSignInDep
) -> AuthorizationUrlResponse:
    """Start linking a provider account to me: send the browser to `authorizationUrl`; the
    provider's callback then links the account it signs in (whatever its email)."""
    started = await sign_in.start(
        provider,
        request_base_url=str(request.base_url),
        link=LinkRequest(user_id=me.user_id, session_id=me.session_id),
    )
    set_flow_cookie(response, request, sign_in, provider, started)
    return AuthorizationUrlResponse(authorization_url=started.authorization_url)
