"""Registration, login, token refresh and logout."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, status

from identity.api.dependencies import (
    ClientInfoDep,
    CredentialKitDep,
    CurrentUser,
    LoginThrottleDep,
    MailerDep,
    MailPolicyDep,
)
from identity.api.schemas import LoginRequest, RefreshTokenRequest, RegisterRequest, TokenResponse
from identity.domain import accounts, sessions
from lib_runtime.dependencies import UnitOfWorkDep

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(
    body: RegisterRequest,
    uow: UnitOfWorkDep,
    kit: CredentialKitDep,
    policy: MailPolicyDep,
    mailer: MailerDep,
    client: ClientInfoDep,
    background: BackgroundTasks,
) -> TokenResponse:
    registration = accounts.Registration(
        email=body.email, password=body.password, name=body.name, referral_code=body.referral_code
    )
    registered = await accounts.register(uow, kit, policy, registration, client)
    background.add_task(mailer.deliver, registered.verification_mail)  # after the commit
    return TokenResponse.of(registered.grant)


@router.post("/login")
async def login(
    body: LoginRequest,
    uow: UnitOfWorkDep,
    kit: CredentialKitDep,
    throttle: LoginThrottleDep,
    client: ClientInfoDep,
) -> TokenResponse:
    grant = await accounts.login(uow, kit, throttle, body.email, body.password, client)
    return TokenResponse.of(grant)


@router.post("/refresh")
async def refresh(
    body: RefreshTokenRequest, uow: UnitOfWorkDep, kit: CredentialKitDep, client: ClientInfoDep
) -> TokenResponse:
    return TokenResponse.of(await sessions.refresh_session(uow, kit, body.refresh_token, client))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    body: RefreshTokenRequest, uow: UnitOfWorkDep, kit: CredentialKitDep, client: ClientInfoDep
) -> None:
    await sessions.logout(uow, kit, body.refresh_token, client)


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT)
async def logout_all(me: CurrentUser, uow: UnitOfWorkDep, client: ClientInfoDep) -> None:
    await sessions.logout_everywhere(uow, me.user_id, client)
