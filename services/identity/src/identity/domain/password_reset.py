"""Password reset by mail: asking answers alike for every address (no account enumeration);
the mailed token, used once within its short lifetime, sets a new password and ends every
session of the account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from identity.credentials.kit import CredentialKit
from identity.domain.accounts import normalise_email
from identity.domain.audit import AuditAction, record_audit
from identity.domain.errors import InvalidVerificationTokenError
from identity.domain.mail_policy import MailPolicy
from identity.domain.sessions import ClientInfo, revoke_user_sessions
from identity.domain.verification_tokens import (
    discard_tokens,
    issue_token,
    peek_token,
    recent_tokens,
    use_token,
)
from identity.mail.messages import MailKind, TokenMail
from identity.models import User, VerificationPurpose
from lib_database import UnitOfWork

_PURPOSE = VerificationPurpose.PASSWORD_RESET
_HOUR = timedelta(hours=1)


async def request_password_reset(
    uow: UnitOfWork, kit: CredentialKit, policy: MailPolicy, email: str, client: ClientInfo
) -> TokenMail | None:
    """The reset mail to send, or None: no such account, or the address already got its
    hourly share of reset mails. The caller answers the same in every case."""
    email = normalise_email(email)
    async with uow:
        db = uow.session
        # The row lock makes concurrent requests for one account take turns (the hourly cap).
        user = (
            await db.execute(select(User).where(col(User.email) == email).with_for_update())
        ).scalar_one_or_none()
        if user is None:
            return None
        now = datetime.now(UTC)
        recent = await recent_tokens(db, email, _PURPOSE, since=now - _HOUR)
        if recent.count >= policy.password_reset_mails_per_hour:
            return None
        issued = issue_token(
            db,
            kit.token_digester,
            identifier=email,
            purpose=_PURPOSE,
            ttl_s=policy.password_reset_ttl_s,
        )
        record_audit(
            db, AuditAction.PASSWORD_RESET_REQUESTED, user_id=user.id, ip_address=client.ip_address
        )
        await uow.commit()
    return TokenMail(
        kind=MailKind.PASSWORD_RESET, to=email, token=issued.token, expires_at=issued.expires_at
    )


async def confirm_password_reset(
    uow: UnitOfWork, kit: CredentialKit, token: str, new_password: str, client: ClientInfo
) -> None:
    """Set the new password and revoke every session. An unknown, used or expired token is a
    400 and changes nothing."""
    digester = kit.token_digester
    async with uow:
        valid = await peek_token(uow.session, digester, token, _PURPOSE) is not None
    if not valid:  # checked first, so a bad token costs no password hash
        raise InvalidVerificationTokenError()
    password_hash = await kit.passwords.hash(new_password)  # outside any transaction
    async with uow:
        db = uow.session
        email = await use_token(db, digester, token, _PURPOSE)
        if email is None:  # used meanwhile by a concurrent request
            raise InvalidVerificationTokenError()
        user = (
            await db.execute(select(User).where(col(User.email) == email).with_for_update())
        ).scalar_one_or_none()
        if user is None:
            raise InvalidVerificationTokenError()
        user.password_hash = password_hash
        user.updated_at = datetime.now(UTC)
        revoked = await revoke_user_sessions(db, user.id)
        await discard_tokens(db, email, _PURPOSE)
        record_audit(
            db,
            AuditAction.PASSWORD_RESET_COMPLETED,
            user_id=user.id,
            ip_address=client.ip_address,
            metadata={"sessionsRevoked": revoked},
        )
        await uow.commit()
