"""Routes of the mailed tokens: email verification and password reset.

Each mail is sent by a background task after the use case committed and after the response
(identity.mail.mailer explains why, and what happens when one is lost).
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, status

from identity.api.dependencies import (
    ClientInfoDep,
    CredentialKitDep,
    CurrentUser,
    MailerDep,
    MailPolicyDep,
)
from identity.api.schemas import (
    AcceptedResponse,
    PasswordResetConfirmRequest,
    PasswordResetRequest,
    UserResponse,
    VerifyEmailRequest,
)
from identity.domain import email_verification, password_reset
from lib_runtime.dependencies import UnitOfWorkDep

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

RESET_REQUESTED = AcceptedResponse(
    detail="If an account has this email address, a mail with a reset link is on its way."
)


@router.post("/verify-email")
async def verify_email(
    body: VerifyEmailRequest,
    uow: UnitOfWorkDep,
    kit: CredentialKitDep,
    policy: MailPolicyDep,
    client: ClientInfoDep,
) -> UserResponse:
    user = await email_verification.verify_email(
        uow, kit.token_digester, policy, body.token, client
    )
    return UserResponse.of(user)


@router.post("/verify-email/resend", status_code=status.HTTP_202_ACCEPTED)
async def resend_verification_email(
    me: CurrentUser,
    uow: UnitOfWorkDep,
    kit: CredentialKitDep,
    policy: MailPolicyDep,
    mailer: MailerDep,
    background: BackgroundTasks,
) -> AcceptedResponse:
    mail = await email_verification.resend_verification(uow, kit.token_digester, policy, me.user_id)
    background.add_task(mailer.deliver, mail)
    return AcceptedResponse(detail="A verification mail is on its way.")


@router.post("/password-reset", status_code=status.HTTP_202_ACCEPTED)
async def request_password_reset(
    body: PasswordResetRequest,
    uow: UnitOfWorkDep,
    kit: CredentialKitDep,
    policy: MailPolicyDep,
    mailer: MailerDep,
    client: ClientInfoDep,
    background: BackgroundTasks,
) -> AcceptedResponse:
    """Answers the same whether or not the address has an account (and whether a mail goes)."""
    mail = await password_reset.request_password_reset(uow, kit, policy, body.email, client)
    if mail is not None:
        background.add_task(mailer.deliver, mail)
    return RESET_REQUESTED


@router.post("/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT)
async def confirm_password_reset(
    body: PasswordResetConfirmRequest,
    uow: UnitOfWorkDep,
    kit: CredentialKitDep,
    client: ClientInfoDep,
) -> None:
    """Sets the new password and signs out every session: the user logs in again."""
    await password_reset.confirm_password_reset(uow, kit, body.token, body.new_password, client)
