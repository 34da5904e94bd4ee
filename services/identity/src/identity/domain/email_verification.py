"""Email verification: a token mailed at registration (and on request); using it marks the
address verified, activates the user's pending API keys and completes a pending referral."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from identity.credentials.opaque_tokens import TokenDigester
from identity.domain.audit import AuditAction, record_audit
from identity.domain.errors import (
    EmailAlreadyVerifiedError,
    InvalidVerificationTokenError,
    NoEmailAddressError,
    TooManyMailsError,
)
from identity.domain.mail_policy import MailPolicy
from identity.domain.referrals import complete_referral
from identity.domain.sessions import ClientInfo
from identity.domain.users import user_updated
from identity.domain.verification_tokens import (
    discard_tokens,
    issue_token,
    recent_tokens,
    use_token,
)
from identity.mail.messages import MailKind, TokenMail
from identity.models import ApiKey, ApiKeyStatus, User, VerificationPurpose
from lib_contracts.identity import UserEmailVerified
from lib_database import UnitOfWork
from lib_web.problems import NotFoundError

_PURPOSE = VerificationPurpose.EMAIL_VERIFICATION
_DAY = timedelta(days=1)


def verification_mail(
    db: AsyncSession, digester: TokenDigester, policy: MailPolicy, email: str
) -> TokenMail:
    """Issue a verification token for `email` in the session's transaction; the mail to send
    once it commits."""
    issued = issue_token(
        db,
        digester,
        identifier=email,
        purpose=_PURPOSE,
        ttl_s=policy.email_verification_ttl_s,
    )
    return TokenMail(
        kind=MailKind.EMAIL_VERIFICATION, to=email, token=issued.token, expires_at=issued.expires_at
    )


async def resend_verification(
    uow: UnitOfWork, digester: TokenDigester, policy: MailPolicy, user_id: str
) -> TokenMail:
    """A fresh verification mail for the signed-in user (earlier links keep working until they
    expire). Limited per address: one per interval, so many a day (429 with Retry-After)."""
    async with uow:
        db = uow.session
        # The row lock makes concurrent resends take turns, so the limits hold.
        user = await db.get(User, user_id, with_for_update=True)
        if user is None:
            raise NotFoundError("No such user.")
        if user.email is None:
            raise NoEmailAddressError()
        if user.email_verified is not None:
            raise EmailAlreadyVerifiedError()
        now = datetime.now(UTC)
        recent = await recent_tokens(db, user.email, _PURPOSE, since=now - _DAY)
        retry_after = _resend_wait_s(policy, recent.count, recent.newest, recent.oldest, now)
        if retry_after is not None:
            raise TooManyMailsError(retry_after_s=retry_after)
        mail = verification_mail(db, digester, policy, user.email)
        await uow.commit()
    return mail


def _resend_wait_s(
    policy: MailPolicy,
    count: int,
    newest: datetime | None,
    oldest: datetime | None,
    now: datetime,
) -> int | None:
    waits = []
    interval = timedelta(seconds=policy.verification_resend_interval_s)
    if newest is not None and now - newest < interval:
        waits.append(newest + interval - now)
    if count >= policy.verification_mails_per_day and oldest is not None:
        waits.append(oldest + _DAY - now)
    if not waits:
        return None
    return max(1, math.ceil(max(waits).total_seconds()))


async def verify_email(
    uow: UnitOfWork,
    digester: TokenDigester,
    policy: MailPolicy,
    token: str,
    client: ClientInfo,
) -> User:
    """Use a verification token. An unknown, used or expired one is a 400 and changes nothing."""
    async with uow:
        db = uow.session
        email = await use_token(db, digester, token, _PURPOSE)
        if email is None:
            raise InvalidVerificationTokenError()
        user = (
            await db.execute(select(User).where(col(User.email) == email).with_for_update())
        ).scalar_one_or_none()
        if user is None:  # the account went (or changed its address) since the mail
            raise InvalidVerificationTokenError()
        if user.email_verified is None:
            await _mark_verified(uow, user, email, policy, client)
        await discard_tokens(db, email, _PURPOSE)
        await uow.commit()
    return user


async def _mark_verified(
    uow: UnitOfWork, user: User, email: str, policy: MailPolicy, client: ClientInfo
) -> None:
    db = uow.session
    now = datetime.now(UTC)
    user.email_verified = now
    user.revision += 1
    user.updated_at = now
    # Seed 001: keys made before verification wait as `pending_verification`.
    await db.execute(
        update(ApiKey)
        .where(
            col(ApiKey.user_id) == user.id,
            col(ApiKey.status) == ApiKeyStatus.PENDING_VERIFICATION,
        )
        .values(status=ApiKeyStatus.ACTIVE, updated_at=now)
    )
    await complete_referral(uow, referee_id=user.id, reward_tokens=policy.referral_reward_tokens)
    record_audit(db, AuditAction.EMAIL_VERIFIED, user_id=user.id, ip_address=client.ip_address)
    uow.emit(UserEmailVerified(user_id=user.id, email=email, verified_at=now), subject=user.id)
    uow.emit(user_updated(user), subject=user.id)
