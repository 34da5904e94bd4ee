"""Tokens held for paid work: reserved for a job id (internal route), committed when the job
completes (a SPEND ledger row), released when it fails or is never confirmed in time.

A reservation is idempotent on the job id: the same job gets the same reservation back, the
same job with another user or amount is a conflict. Held tokens stay in the balance (they
are not in the ledger yet) but leave its spendable part. Each reservation counts one
generation against the user's daily quota; a released one gives it back.

Each step is one statement (one round trip): `reserve` runs as its own implicit transaction
on a raw asyncpg connection (no events to write, so no unit of work is needed), `commit`
inside the caller's transaction (the consumer's, with its inbox claim).

Locks are taken in one order everywhere: reservation row, then the user's balance row, then
their quota row (`reserve` holds the tokens before it counts the quota).

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

import asyncpg
import structlog
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.domain import ledger, quotas
from billing.domain.errors import (
    DailyQuotaExceededError,
    InsufficientTokensError,
    NoTokenBalanceError,
    ReservationConflictError,
)
from billing.domain.quotas import utc_day
from billing.models import (
    ReservationStatus,
    TokenTransactionType,
    new_id,
    utc_now,
)
from lib_database import Database, UnitOfWork

log = structlog.get_logger(__name__)

LEDGER_SOURCE = "reservation"

_COLUMNS = (
    "id, user_id, job_id, amount, status, source, expires_at, committed_at, released_at, created_at"
)

_BY_JOB = text(f"SELECT {_COLUMNS} FROM token_reservations WHERE job_id = :job_id")
_BY_JOB_RAW = f"SELECT {_COLUMNS} FROM token_reservations WHERE job_id = $1"

# The whole reservation in one statement (asyncpg parameters), in lock order. The hold comes
# first: it locks the balance row and re-checks the spendable part on its latest version.
# It only happens if the job is not known yet (in the statement's snapshot) and today's count
# (snapshot) is under the limit. Then the day's quota is counted and the reservation row
# written. Nothing refused after the hold can be undone by a later step, so such races end
# the statement with an error instead, which rolls all of it back: the same job reserved
# concurrently breaks the unique job_id, the quota's last use taken concurrently breaks the
# quota row's CHECK (used <= daily_limit). When the hold refuses, the last branch returns
# the limit and today's count: past it, that was the reason; else the balance was.
_RESERVE = f"""
WITH existing AS (
    SELECT {_COLUMNS} FROM token_reservations WHERE job_id = $2
), plan AS (
    SELECT p.tier, COALESCE(CAST(CAST($6::text AS jsonb) ->> p.tier AS integer),
                            p.daily_generations) AS daily_limit
    FROM subscription_plans p
    WHERE p.tier = COALESCE((SELECT s.tier FROM subscriptions s WHERE s.user_id = $1), 'FREE')
), today AS (
    SELECT used FROM daily_quotas WHERE user_id = $1 AND quota_date = $8
), held AS (
    UPDATE user_token_balances SET reserved = reserved + $3, updated_at = $10
    WHERE user_id = $1 AND balance - reserved >= $3
      AND NOT EXISTS (SELECT FROM existing)
      AND (SELECT daily_limit FROM plan) > COALESCE((SELECT used FROM today), 0)
    RETURNING user_id
), quota AS (
    INSERT INTO daily_quotas
        (id, user_id, quota_date, tier, daily_limit, used, resets_at, created_at, updated_at)
    SELECT $7, $1, $8, plan.tier, plan.daily_limit, 1, $9, $10, $10
    FROM plan, held
    ON CONFLICT (user_id, quota_date) DO UPDATE
    SET used = daily_quotas.used + 1, daily_limit = EXCLUDED.daily_limit,
        tier = EXCLUDED.tier, updated_at = EXCLUDED.updated_at
    RETURNING used
), created AS (
    INSERT INTO token_reservations
        (id, user_id, job_id, amount, status, source, expires_at, created_at, updated_at)
    SELECT $11, $1, $2, $3, 'HELD', $4, $5, $10, $10 FROM quota
    RETURNING {_COLUMNS}
)
SELECT true AS created, {_COLUMNS}, NULL::integer AS daily_limit,
       NULL::integer AS spendable, NULL::integer AS used
FROM created
UNION ALL
SELECT false, {_COLUMNS}, NULL, NULL, NULL FROM existing
UNION ALL
SELECT NULL, {", ".join("NULL" for _ in _COLUMNS.split(","))},
       (SELECT daily_limit FROM plan), NULL, (SELECT used FROM today)
WHERE NOT EXISTS (SELECT FROM created) AND NOT EXISTS (SELECT FROM existing)
"""

# The day's limit alone, for a refusal found by the quota row's CHECK.
_SPENDABLE = "SELECT balance - reserved FROM user_token_balances WHERE user_id = $1"

_DAILY_LIMIT = """
SELECT COALESCE(CAST(CAST($2::text AS jsonb) ->> p.tier AS integer), p.daily_generations)
FROM subscription_plans p
WHERE p.tier = COALESCE((SELECT s.tier FROM subscriptions s WHERE s.user_id = $1), 'FREE')
"""

# The reservation an event names: by our id, else by the job id (content's generation id).
_LOCK_FOR_EVENT = text(
    f"SELECT {_COLUMNS} FROM token_reservations WHERE id = :id OR job_id = :job_id "
    "ORDER BY (id = :id) DESC LIMIT 1 FOR UPDATE"
)

# The whole commit in one statement (asyncpg parameters): the held reservation an event
# names is marked (and so locked) first, then the ledger spends its tokens from the held ones
# (balance row) and appends the SPEND row with its balance_after. No row back: nothing was
# held under that id.
_COMMIT = f"""
WITH target AS (
    UPDATE token_reservations
    SET status = 'COMMITTED', committed_at = $3, updated_at = $3
    WHERE id = (
        SELECT id FROM token_reservations WHERE id = $1 OR job_id = $2
        ORDER BY (id = $1) DESC LIMIT 1
    ) AND status = 'HELD'
    RETURNING {_COLUMNS}
), spend AS (
    SELECT $4::text AS transaction_id, t.user_id, -t.amount AS amount,
           -t.amount AS reserved_delta, $5::text AS type, $6::text AS source,
           t.id AS source_id,
           jsonb_build_object('jobId', t.job_id) || CAST($7::text AS jsonb) AS metadata,
           $3::timestamptz AS now
    FROM target t
), {ledger.posting("spend")}
SELECT {_COLUMNS}, (SELECT balance_after FROM posted) AS balance_after FROM target
"""


# The whole release in one statement, in lock order: the held reservation an event names is
# marked (and so locked), its tokens leave the held ones, and its day's quota gets its use
# back. No row back: nothing was held under that id (the caller looks closer).
_RELEASE_HELD = text(
    """
    WITH target AS (
        UPDATE token_reservations
        SET status = 'RELEASED', released_at = :now, updated_at = :now
        WHERE id = (
            SELECT id FROM token_reservations WHERE id = :id OR job_id = :job_id
            ORDER BY (id = :id) DESC LIMIT 1
        ) AND status = 'HELD'
        RETURNING id, user_id, amount, created_at
    ), unheld AS (
        UPDATE user_token_balances b SET reserved = b.reserved - t.amount, updated_at = :now
        FROM target t WHERE b.user_id = t.user_id
        RETURNING t.user_id, t.created_at
    ), given_back AS (
        UPDATE daily_quotas q SET used = q.used - 1, updated_at = :now
        FROM unheld u
        WHERE q.user_id = u.user_id
          AND q.quota_date = CAST(u.created_at AT TIME ZONE 'UTC' AS date) AND q.used > 0
        RETURNING q.used
    )
    SELECT id FROM target
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

    @classmethod
    def of_record(cls, record: asyncpg.Record) -> Reservation:
        return cls(**{name: record[name] for name in _FIELDS})


_FIELDS = tuple(name.strip() for name in _COLUMNS.split(","))


class ReservationNotFoundYetError(Exception):
    """A completion arrived before its reservation: retried later by the consumer."""


def _same_request(reservation: Reservation, user_id: str, amount: int) -> Reservation:
    if reservation.user_id != user_id or reservation.amount != amount:
        raise ReservationConflictError()
    return reservation


async def reserve(
    database: Database,
    *,
    user_id: str,
    job_id: str,
    amount: int,
    source: str | None,
    daily_limits: Mapping[str, int],
    hold_for: timedelta,
) -> tuple[Reservation, bool]:
    """Hold `amount` tokens for `job_id`; (the reservation, whether it is new).

    One statement, committed on its own, on the pool's raw asyncpg connection (asyncpg
    prepares it once per connection); refusals and races cost a second read at most."""
    now = utc_now()
    limits = json.dumps(dict(daily_limits))
    async with database.engine.connect() as connection:
        driver: asyncpg.Connection = (await connection.get_raw_connection()).driver_connection
        try:
            row = await driver.fetchrow(
                _RESERVE,
                user_id,
                job_id,
                amount,
                source,
                now + hold_for,
                limits,
                new_id(),
                utc_day(now),
                quotas.next_reset(now),
                now,
                new_id(),
            )
        except asyncpg.UniqueViolationError as error:
            if error.table_name != "token_reservations":
                raise
            # The same job was reserved at the same moment; the statement changed nothing.
            row = None
        except asyncpg.CheckViolationError as error:
            if error.table_name != "daily_quotas":
                raise
            # The day's last use went to a concurrent call; the statement changed nothing.
            limit = await driver.fetchval(_DAILY_LIMIT, user_id, limits)
            raise DailyQuotaExceededError(
                limit=limit or 0, resets_at=quotas.next_reset(now)
            ) from None
        if row is None or row["created"] is None:
            existing = await driver.fetchrow(_BY_JOB_RAW, job_id)
            if existing is not None:
                return _same_request(Reservation.of_record(existing), user_id, amount), False
        if row is None:  # cannot happen: the violating reservation is committed
            raise RuntimeError(f"job {job_id} conflicted but has no reservation")
        if row["created"] is None:
            raise await _refusal(driver, row, user_id, amount, now)
    reservation = Reservation.of_record(row)
    if row["created"]:
        return reservation, True
    return _same_request(reservation, user_id, amount), False


async def _refusal(
    driver: asyncpg.Connection, row: asyncpg.Record, user_id: str, amount: int, now: datetime
) -> Exception:
    """Why the reservation statement held nothing: the quota first (as it always was), then
    the balance, read again (the statement's hold saw a newer state than its snapshot)."""
    limit, used = row["daily_limit"], row["used"]
    if not limit or (used is not None and used >= limit):
        return DailyQuotaExceededError(limit=limit or 0, resets_at=quotas.next_reset(now))
    spendable = await driver.fetchval(_SPENDABLE, user_id)
    if spendable is None:
        return NoTokenBalanceError()
    return InsufficientTokensError(required=amount, available=int(spendable))


async def _lock_for_event(
    conn: AsyncConnection, reservation_id: str, job_id: str
) -> Reservation | None:
    row = (await conn.execute(_LOCK_FOR_EVENT, {"id": reservation_id, "job_id": job_id})).first()
    return Reservation.of(row) if row is not None else None


async def commit(
    conn: AsyncConnection, *, reservation_id: str, job_id: str, metadata: dict[str, Any]
) -> bool:
    """The job completed: spend the held tokens (inside the caller's transaction), in one
    statement. False if there was nothing to do (committed before, or released before the
    job completed)."""
    now = utc_now()
    args = (
        reservation_id,
        job_id,
        now,
        new_id(),
        TokenTransactionType.SPEND.value,
        LEDGER_SOURCE,
        json.dumps(metadata),
    )
    driver: asyncpg.Connection = (await conn.get_raw_connection()).driver_connection
    committed: Mapping[Any, Any] | None
    if driver.is_in_transaction():
        # The consumer's transaction (begun by its inbox claim): straight on the driver,
        # without SQLAlchemy's per-statement work.
        committed = await driver.fetchrow(_COMMIT, *args)
    else:
        # The transaction is not begun yet (SQLAlchemy begins it with its first statement).
        committed = (await conn.exec_driver_sql(_COMMIT, args)).mappings().first()
    if committed is None:
        known = await _lock_for_event(conn, reservation_id, job_id)
        if known is None:
            raise ReservationNotFoundYetError(f"no reservation {reservation_id} / job {job_id}")
        if known.status == ReservationStatus.RELEASED:
            log.warning(
                "reservation.completed_after_release", reservation_id=known.id, job_id=job_id
            )
        return False
    if committed["balance_after"] is None:
        # Held tokens are always in the balance, so only a missing balance row gets here: the
        # caller's transaction must not keep the reservation marked without its SPEND row.
        raise await ledger.refusal(conn, committed["user_id"], -committed["amount"])
    return True


async def _release(conn: AsyncConnection, reservation: Reservation, now: datetime) -> None:
    # The balance row before the quota row: the order `reserve` takes them in (no deadlock).
    await conn.execute(
        _UNHOLD, {"user_id": reservation.user_id, "amount": reservation.amount, "now": now}
    )
    await quotas.give_back(conn, reservation.user_id, day=utc_day(reservation.created_at), now=now)
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
    """The job failed: give the held tokens back (inside the caller's transaction), in one
    statement. A failure for a job not reserved yet leaves a RELEASED tombstone, so a late
    reserve holds nothing."""
    now = utc_now()
    released = (
        await conn.execute(_RELEASE_HELD, {"id": reservation_id, "job_id": job_id, "now": now})
    ).first()
    if released is not None:
        return True
    if await _lock_for_event(conn, reservation_id, job_id) is not None:
        return False  # committed or released before
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
