"""A signed-in user changes their password: the current one must match, and every other
session ends (the one making the change stays signed in)."""

from __future__ import annotations

from datetime import UTC, datetime

from identity.credentials.kit import CredentialKit
from identity.domain.audit import AuditAction, record_audit
from identity.domain.errors import PasswordChangedMeanwhileError, WrongCurrentPasswordError
from identity.domain.login_throttle import ATTEMPTED_EMAIL_KEY, LoginThrottle
from identity.domain.sessions import ClientInfo, revoke_user_sessions
from identity.domain.verification_tokens import discard_tokens
from identity.models import User, VerificationPurpose
from lib_database import UnitOfWork
from lib_web.problems import NotFoundError


async def change_password(
    uow: UnitOfWork,
    kit: CredentialKit,
    throttle: LoginThrottle,
    *,
    user_id: str,
    session_id: str,
    current_password: str,
    new_password: str,
    client: ClientInfo,
) -> None:
    """A wrong current password counts as a failed login (LOGIN_FAILED for the account's
    email), so a stolen access token cannot be used to guess the password any faster than the
    login form allows."""
    async with uow:
        user = await uow.session.get(User, user_id)
        if user is None:
            raise NotFoundError("No such user.")
        throttle_key = user.email or f"user:{user.id}"
        await throttle.check(uow.session, email=throttle_key, ip_address=client.ip_address)
        old_hash = user.password_hash
    # Hashing is slow: no transaction waits on it.
    if not await kit.passwords.verify(old_hash, current_password):
        async with uow:
            record_audit(
                uow.session,
                AuditAction.LOGIN_FAILED,
                user_id=user_id,
                ip_address=client.ip_address,
                metadata={ATTEMPTED_EMAIL_KEY: throttle_key, "reason": "password_change"},
            )
            await uow.commit()
        raise WrongCurrentPasswordError()
    new_hash = await kit.passwords.hash(new_password)
    async with uow:
        db = uow.session
        user = await db.get(User, user_id, with_for_update=True)
        if user is None:
            raise NotFoundError("No such user.")
        if user.password_hash != old_hash:
            raise PasswordChangedMeanwhileError()
        user.password_hash = new_hash
        user.updated_at = datetime.now(UTC)
        revoked = await revoke_user_sessions(db, user_id, keep_session_id=session_id)
        if user.email is not None:  # a reset link mailed earlier must not undo this change
            await discard_tokens(db, user.email, VerificationPurpose.PASSWORD_RESET)
        record_audit(
            db,
            AuditAction.PASSWORD_CHANGED,
            user_id=user_id,
            ip_address=client.ip_address,
            metadata={"sessionsRevoked": revoked},
        )
        await uow.commit()
