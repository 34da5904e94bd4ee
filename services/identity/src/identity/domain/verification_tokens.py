"""Single-use, expiring tokens mailed to an address (VerificationToken, Auth.js' shape).

`identifier` is the (normalised) email address the token was mailed to: using the token
proves control of that address. Only the token's keyed hash is stored (the same HMAC under
`token_pepper` as refresh tokens), so the table is useless to whoever reads it. Using a token
deletes its row in the statement that checks it: a token used twice finds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, delete, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from identity.credentials.opaque_tokens import TokenDigester, new_opaque_token
from identity.models import VerificationPurpose, VerificationToken


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime


def issue_token(
    db: AsyncSession,
    digester: TokenDigester,
    *,
    identifier: str,
    purpose: VerificationPurpose,
    ttl_s: int,
) -> IssuedToken:
    """A new token for `identifier`; its hash is added to the session's transaction."""
    token = new_opaque_token()
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=ttl_s)
    db.add(
        VerificationToken(
            token=digester.digest(token),
            identifier=identifier,
            purpose=purpose,
            expires=expires_at,
            created_at=now,
        )
    )
    return IssuedToken(token=token, expires_at=expires_at)


def _valid(digest: str, purpose: VerificationPurpose) -> tuple[ColumnElement[bool], ...]:
    return (
        col(VerificationToken.token) == digest,
        col(VerificationToken.purpose) == purpose,
        col(VerificationToken.expires) > datetime.now(UTC),
    )


async def use_token(
    db: AsyncSession, digester: TokenDigester, token: str, purpose: VerificationPurpose
) -> str | None:
    """Consume a valid token of `purpose`: its identifier, or None if it is unknown, used or
    expired (then nothing changes). Of two concurrent uses only one gets the identifier."""
    result = await db.execute(
        delete(VerificationToken)
        .where(*_valid(digester.digest(token), purpose))
        .returning(col(VerificationToken.identifier))
    )
    identifier: str | None = result.scalar_one_or_none()
    return identifier


async def peek_token(
    db: AsyncSession, digester: TokenDigester, token: str, purpose: VerificationPurpose
) -> str | None:
    """The identifier of a valid token, without using it."""
    result = await db.execute(
        select(col(VerificationToken.identifier)).where(*_valid(digester.digest(token), purpose))
    )
    identifier: str | None = result.scalar_one_or_none()
    return identifier


async def discard_tokens(db: AsyncSession, identifier: str, purpose: VerificationPurpose) -> None:
    """Every outstanding token of `purpose` for `identifier` stops working."""
    await db.execute(
        delete(VerificationToken).where(
            col(VerificationToken.identifier) == identifier,
            col(VerificationToken.purpose) == purpose,
        )
    )


@dataclass(frozen=True, slots=True)
class RecentTokens:
    count: int
    newest: datetime | None
    oldest: datetime | None


async def recent_tokens(
    db: AsyncSession, identifier: str, purpose: VerificationPurpose, *, since: datetime
) -> RecentTokens:
    """How many tokens of `purpose` were issued to `identifier` since then, and the newest."""
    created_at = col(VerificationToken.created_at)
    count, newest, oldest = (
        await db.execute(
            select(func.count(), func.max(created_at), func.min(created_at)).where(
                col(VerificationToken.identifier) == identifier,
                col(VerificationToken.purpose) == purpose,
                created_at > since,
            )
        )
    ).one()
    return RecentTokens(count=int(count), newest=newest, oldest=oldest)
