"""Tokens held for paid work: reserved for a job id (internal route), committed when the job
completes (a SPEND ledger row), released when it fails or is never confirmed in time.

A reservation is idempotent on the job id: the same job gets the same reservation back, the
same job with another user or amount is a conflict. Held tokens stay in the balance (they
are not in the ledger yet) but leave its spendable part. Each reservation counts one
generation against the user's daily quota; a released one gives it back.

Locks are taken in one order everywhere: reservation row, then the user's quota row, then
their balance row.

Out of order: a completion or failure for a job whose reservation is not known yet is
handled as follows. A failure leaves a RELEASED tombstone under that job id, so a late
reserve call for the job holds nothing. A completion cannot be charged without the
reservation, so it is retried (the consumer's retry path) until the reservation exists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.domain import ledger, quotas
from billing.domain.errors import ReservationConflictError
from billing.domain.quotas import utc_day
from billing.models import (
    ReservationStatus,
    SubscriptionTier,
    TokenTransactionType,
    new_id,
    utc_now,
)
from lib_database import UnitOfWork

log = structlog.get_logger(__name__)

LEDGER_SOURCE = "reservation"

_COLUMNS = (
    "id, user_id, job_id, amount, status, source, expires_at, committed_at, released_at, created_at"
)

_BY_JOB = text(f"SELECT {_COLUMNS} FROM token_reservations WHERE job_id = :job_id")

# The whole reservation in one statement: the day's quota counter (the tier's limit from the
# settings, else the plan's), the hold on the balance, the reservation row. Each step only
# happens if the one before it did; if no row comes back, something refused (or the job is
# known) and the caller rolls back and takes the step-by-step path to find out what.
_RESERVE_AT_ONCE = text(
    f"""
    WITH plan AS (
        SELECT p.tier, COALESCE(
            CAST(CAST(:limits AS jsonb) ->> p.tier AS integer), p.daily_generations
        ) AS daily_limit
        FROM subscription_plans p
        WHERE p.tier = COALESCE(
            (SELECT s.tier FROM subscriptions s WHERE s.user_id = :user_id), :free
        )
    ), quota AS (
        INSERT INTO daily_quotas
            (id, user_id, quota_date, tier, daily_limit, used, resets_at, created_at, updated_at)
        SELECT :quota_id, :user_id, :day, plan.tier, plan.daily_limit, 1, :resets_at, :now, :now
        FROM plan WHERE plan.daily_limit > 0
        ON CONFLICT (user_id, quota_date) DO UPDATE
        SET used = daily_quotas.used + 1, daily_limit = EXCLUDED.daily_limit,
            tier = EXCLUDED.tier, updated_at = EXCLUDED.updated_at
        WHERE daily_quotas.used < EXCLUDED.daily_limit
        RETURNING used
    ), held AS (
        UPDATE user_token_balances SET reserved = reserved + :amount, updated_at = :now
        WHERE user_id = :user_id AND balance - reserved >= :amount
          AND EXISTS (SELECT 1 FROM quota)
        RETURNING user_id
    )
    INSERT INTO token_reservations
        (id, user_id, job_id, amount, status, source, expires_at, created_at, updated_at)
    SELECT :id, :user_id, :job_id, :amount, 'HELD', :source, :expires_at, :now, :now FROM held
    ON CONFLICT (job_id) DO NOTHING
    RETURNING {_COLUMNS}
    """
)

_HOLD = text(
    "UPDATE user_token_balances SET reserved = reserved + :amount, updated_at = :now "
    "WHERE user_id = :user_id AND balance - reserved >= :amount RETURNING balance"
)

_INSERT = text(
    f"""
    INSERT INTO token_reservations
        (id, user_id, job_id, amount, status, source, expires_at, created_at, updated_at)
    VALUES (:id, :user_id, :job_id, :amount, 'HELD', :source, :expires_at, :now, :now)
    ON CONFLICT (job_id) DO NOTHING
    RETURNING {_COLUMNS}
    """
)

# The reservation an event names: by our id, else by the job id (content's generation id).
_LOCK_FOR_EVENT = text(
    f"SELECT {_COLUMNS} FROM token_reservations WHERE id = :id OR job_id = :job_id "
    "ORDER BY (id = :id) DESC LIMIT 1 FOR UPDATE"
)

# Locks and marks the held reservation an event names in one statement.
_COMMIT_HELD = text(
    f"""
    UPDATE token_reservations SET status = 'COMMITTED', committed_at = :now, updated_at = :now
    WHERE id = (
        SELECT id FROM token_reservations WHERE id = :id OR job_id = :job_id
        ORDER BY (id = :id) DESC LIMIT 1
    ) AND status = 'HELD'
    RETURNING {_COLUMNS}
    """
)
_MARK_RELEASED = text(
    "UPDATE token_reservations SET status = 'RELEASED', released_at = :now, updated_at = :now "
    "WHERE id = :id"
)
_UNHOLD = text(
    "UPDATE user_token_balances SET reserved = reserved - :amount, updated_at = :now "
    "WHERE user_id = :user_id"
)

_TOMBSTONE = text(
    """
    INSERT INTO token_reservations
        (id, user_id, job_id, amount, status, source, expires_at, released_at,
         created_at, updated_at)
    VALUES (:id, :user_id, :job_id, :amount, 'RELEASED', :source, :now, :now, :now, :now)
    ON CONFLICT DO NOTHING
    """
)

_DUE = text(
    f"SELECT {_COLUMNS} FROM token_reservations WHERE status = 'HELD' AND expires_at <= :now "
    "ORDER BY expires_at LIMIT :limit FOR UPDATE SKIP LOCKED"
)


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    user_id: str
    job_id: str
    amount: int
    status: str
    source: str | None
    expires_at: datetime
    committed_at: datetime | None
    released_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: Row[Any]) -> Reservation:
        return cls(**row._asdict())


class ReservationNotFoundYetError(Exception):
    """A completion arrived before its reservation: retried later by the consumer."""


def _same_request(reservation: Reservation, user_id: str, amount: int) -> Reservation:
    if reservation.user_id != user_id or reservation.amount != amount:
        raise ReservationConflictError()
    return reservation


async def reserve(
    uow: UnitOfWork,
    *,
    user_id: str,
    job_id: str,
    amount: int,
    source: str | None,
    daily_limits: Mapping[str, int],
    hold_for: timedelta,
) -> tuple[Reservation, bool]:
    """Hold `amount` tokens for `job_id`; (the reservation, whether it is new)."""
    now = utc_now()
    async with uow:
        conn = uow.connection
        reserved = (
            await conn.execute(
                _RESERVE_AT_ONCE,
                {
                    "id": new_id(),
                    "quota_id": new_id(),
                    "user_id": user_id,
                    "job_id": job_id,
                    "amount": amount,
                    "source": source,
                    "limits": json.dumps(dict(daily_limits)),
                    "free": SubscriptionTier.FREE,
                    "day": utc_day(now),
                    "resets_at": quotas.next_reset(now),
                    "expires_at": now + hold_for,
                    "now": now,
                },
            )
        ).first()
        if reserved is not None:
            await uow.commit()
            return Reservation.of(reserved), True
        await uow.rollback()
        existing = (await conn.execute(_BY_JOB, {"job_id": job_id})).first()
        if existing is not None:
            return _same_request(Reservation.of(existing), user_id, amount), False
        await quotas.use_one(conn, user_id, daily_limits, now=now)
        held = (
            await conn.execute(_HOLD, {"user_id": user_id, "amount": amount, "now": now})
        ).first()
        if held is None:
            raise await ledger.refusal(conn, user_id, -amount)
        inserted = (
            await conn.execute(
                _INSERT,
                {
                    "id": new_id(),
                    "user_id": user_id,
                    "job_id": job_id,
                    "amount": amount,
                    "source": source,
                    "expires_at": now + hold_for,
                    "now": now,
                },
            )
        ).first()
        if inserted is None:
            # The same job was reserved concurrently: undo this attempt, answer with that one.
            await uow.rollback()
            row = (await conn.execute(_BY_JOB, {"job_id": job_id})).one()
            return _same_request(Reservation.of(row), user_id, amount), False
        await uow.commit()
        return Reservation.of(inserted), True


async def _lock_for_event(
    conn: AsyncConnection, reservation_id: str, job_id: str
) -> Reservation | None:
    row = (await conn.execute(_LOCK_FOR_EVENT, {"id": reservation_id, "job_id": job_id})).first()
    return Reservation.of(row) if row is not None else None


async def commit(
    conn: AsyncConnection, *, reservation_id: str, job_id: str, metadata: dict[str, Any]
) -> bool:
    """The job completed: spend the held tokens (inside the caller's transaction). False if
    there was nothing to do (committed before, or released before the job completed)."""
    now = utc_now()
    held = (
        await conn.execute(_COMMIT_HELD, {"id": reservation_id, "job_id": job_id, "now": now})
    ).first()
    if held is None:
        known = await _lock_for_event(conn, reservation_id, job_id)
        if known is None:
            raise ReservationNotFoundYetError(f"no reservation {reservation_id} / job {job_id}")
        if known.status == ReservationStatus.RELEASED:
            log.warning(
                "reservation.completed_after_release", reservation_id=known.id, job_id=job_id
            )
        return False
    reservation = Reservation.of(held)
    await ledger.post(
        conn,
        user_id=reservation.user_id,
        amount=-reservation.amount,
        reserved_delta=-reservation.amount,
        type_=TokenTransactionType.SPEND,
        source=LEDGER_SOURCE,
        source_id=reservation.id,
        metadata={"jobId": reservation.job_id, **metadata},
        now=now,
    )
    return True


async def _release(conn: AsyncConnection, reservation: Reservation, now: datetime) -> None:
    # The quota row before the balance row: the order `reserve` takes them in (no deadlock).
    await quotas.give_back(conn, reservation.user_id, day=utc_day(reservation.created_at), now=now)
    await conn.execute(
        _UNHOLD, {"user_id": reservation.user_id, "amount": reservation.amount, "now": now}
    )
    await conn.execute(_MARK_RELEASED, {"id": reservation.id, "now": now})


async def release(
    conn: AsyncConnection,
    *,
    reservation_id: str,
    job_id: str,
    user_id: str,
    amount: int,
    source: str | None,
) -> bool:
    """The job failed: give the held tokens back (inside the caller's transaction). A failure
    for a job not reserved yet leaves a RELEASED tombstone, so a late reserve holds nothing."""
    now = utc_now()
    reservation = await _lock_for_event(conn, reservation_id, job_id)
    if reservation is None:
        await conn.execute(
            _TOMBSTONE,
            {
                "id": reservation_id,
                "user_id": user_id,
                "job_id": job_id,
                "amount": max(amount, 1),
                "source": source,
                "now": now,
            },
        )
        return False
    if reservation.status != ReservationStatus.HELD:
        return False
    await _release(conn, reservation, now)
    return True


async def release_expired(uow: UnitOfWork, *, now: datetime, batch_size: int = 100) -> int:
    """The timeout job: release held reservations past their deadline, one commit per batch.
    Safe to run twice or concurrently: a released one is no longer HELD, locked ones are
    skipped."""
    released = 0
    async with uow:
        while True:
            due = [
                Reservation.of(row)
                for row in (
                    await uow.connection.execute(_DUE, {"now": now, "limit": batch_size})
                ).all()
            ]
            # One user's rows after another's, in the same order in every run (no deadlock
            # between two runs that picked the same users' reservations).
            for reservation in sorted(due, key=lambda r: (r.user_id, r.id)):
                await _release(uow.connection, reservation, now)
            await uow.commit()
            released += len(due)
            if len(due) < batch_size:
                return released
