"""Sign-in with OpenID Connect providers: start at `authorize`, come back at `callback`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Query, Request, Response
from fastapi.responses import RedirectResponse

from identity.api.dependencies import (
    ClientInfoDep,
    CredentialKitDep,
    OidcSignInDep,
    ProviderTokenCipherDep,
)
from identity.api.schemas import LinkedAccountResponse, TokenResponse
from identity.domain import provider_accounts
from identity.oidc.flow_state import COOKIE_NAME
from identity.oidc.sign_in import OidcSignIn, StartedSignIn
from lib_runtime.dependencies import UnitOfWorkDep

router = APIRouter(prefix="/api/v1/auth/oauth", tags=["auth"])

QueryValue = Annotated[str | None, Query(max_length=2048)]


def set_flow_cookie(
    response: Response,
    request: Request,
    sign_in: OidcSignIn,
    provider: str,
    started: StartedSignIn,
) -> None:
    response.set_cookie(
        COOKIE_NAME,
        started.flow_cookie,
        max_age=started.max_age_s,
        path=sign_in.callback_path(provider),  # sent to the callback only
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level cross-site GET
    )


@router.get("/{provider}/authorize", status_code=302, response_class=RedirectResponse)
async def authorize(provider: str, request: Request, sign_in: OidcSignInDep) -> RedirectResponse:
    """Redirect to the provider's login; the flow's state travels in a sealed cookie."""
    started = await sign_in.start(provider, request_base_url=str(request.base_url))
    response = RedirectResponse(started.authorization_url, status_code=302)
    set_flow_cookie(response, request, sign_in, provider, started)
    return response


@router.get("/{provider}/callback")
async def callback(
    provider: str,
    response: Response,
    sign_in: OidcSignInDep,
    uow: UnitOfWorkDep,
    kit: CredentialKitDep,
    cipher: ProviderTokenCipherDep,
    client: ClientInfoDep,
    code: QueryValue = None,
    state: QueryValue = None,
    error: QueryValue = None,
    flow_cookie: Annotated[str | None, Cookie(alias=COOKIE_NAME, max_length=4096)] = None,
) -> TokenResponse | LinkedAccountResponse:
    """Finish the sign-in (the same tokens as a password login), or the linking of the
    provider account to the signed-in user who started it (the linked account)."""
    finished = await sign_in.finish(
        provider, flow_cookie=flow_cookie, state=state, code=code, error=error
    )
    if finished.link is not None:
        account = await provider_accounts.link_account(
            uow,
            cipher,
            finished.link.user_id,
            finished.identity,
            client,
            session_id=finished.link.session_id,
        )
        response.delete_cookie(COOKIE_NAME, path=sign_in.callback_path(provider))
        return LinkedAccountResponse.of(account)
    grant = await provider_accounts.sign_in_with_provider(
        uow, kit, cipher, finished.identity, client
    )
    response.delete_cookie(COOKIE_NAME, path=sign_in.callback_path(provider))
    return TokenResponse.of(grant)
