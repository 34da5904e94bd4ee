"""Referrals (seed 004): a code per user; signing up with one opens a PENDING referral that
completes, once, when the new user verifies their email (billing then grants the tokens)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from identity.domain.errors import UnknownReferralCodeError
from identity.models import Referral, ReferralStatus, User
from identity.privacy import mask_email
from lib_contracts.identity import ReferralCompleted
from lib_database import UnitOfWork
from lib_database.keyset import encode_cursor, newest_first


async def referrer_of(db: AsyncSession, referral_code: str) -> str:
    """The id of the user whose code this is; 422 if nobody's."""
    referrer_id = (
        await db.execute(select(col(User.id)).where(col(User.referral_code) == referral_code))
    ).scalar_one_or_none()
    if referrer_id is None:
        raise UnknownReferralCodeError()
    return referrer_id


def open_referral(
    db: AsyncSession, *, referrer_id: str, referee_id: str, ip_address: str | None
) -> None:
    if referrer_id == referee_id:  # a code exists only once its owner does; kept as a guard
        raise UnknownReferralCodeError()
    db.add(Referral(referrer_id=referrer_id, referee_id=referee_id, ip_address=ip_address))


async def complete_referral(uow: UnitOfWork, *, referee_id: str, reward_tokens: int) -> None:
    """Complete the referee's PENDING referral, if any, and announce it. The conditional UPDATE
    makes it happen once however often (or concurrently) this runs."""
    db = uow.session
    now = datetime.now(UTC)
    completed = (
        await db.execute(
            update(Referral)
            .where(
                col(Referral.referee_id) == referee_id,
                col(Referral.status) == ReferralStatus.PENDING,
            )
            .values(status=ReferralStatus.COMPLETED, completed_at=now, tokens_granted=reward_tokens)
            .returning(col(Referral.id), col(Referral.referrer_id))
        )
    ).one_or_none()
    if completed is None:
        return
    referral_id, referrer_id = completed
    await db.execute(
        update(User)
        .where(col(User.id) == referrer_id)
        .values(referral_count=col(User.referral_count) + 1)
    )
    uow.emit(
        ReferralCompleted(
            referral_id=referral_id,
            referrer_id=referrer_id,
            referee_id=referee_id,
            tokens_granted=reward_tokens,
            completed_at=now,
        ),
        subject=referral_id,
    )


@dataclass(frozen=True, slots=True)
class ReferralEntry:
    """One of my referrals, with the referee shown only in part."""

    id: str
    status: str
    referee_email: str | None
    tokens_granted: int
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class ReferralPage:
    entries: list[ReferralEntry]
    next_cursor: str | None


async def list_my_referrals(
    uow: UnitOfWork, referrer_id: str, *, limit: int, cursor: str | None
) -> ReferralPage:
    """The people the user referred, newest first, in keyset pages."""
    query = newest_first(
        select(Referral, col(User.email))
        .join(User, col(User.id) == col(Referral.referee_id))
        .where(col(Referral.referrer_id) == referrer_id),
        col(Referral.created_at),
        col(Referral.id),
        limit=limit,
        cursor=cursor,
    )
    async with uow:
        rows = [(row[0], row[1]) for row in await uow.session.execute(query)]
    has_more = len(rows) > limit
    entries = [
        ReferralEntry(
            id=referral.id,
            status=referral.status,
            referee_email=mask_email(email),
            tokens_granted=referral.tokens_granted,
            created_at=referral.created_at,
            completed_at=referral.completed_at,
        )
        for referral, email in rows[:limit]
    ]
    last = entries[-1] if has_more else None
    return ReferralPage(
        entries=entries,
        next_cursor=encode_cursor(last.created_at, last.id) if last is not None else None,
    )
