"""Tokens held for paid work: reserved for a job id (internal route), committed when the job
completes (a SPEND ledger row), released when it fails or is never confirmed in time.

A reservation is idempotent on the job id: the same job gets the same reservation back, the
same job with another user or amount is a conflict. Held tokens stay in the balance (they
are not in the ledger yet) but leave its spendable part. Each reservation counts one
generation against the user's daily quota; a released one gives it back.

Each step is one statement (one round trip) for many jobs at once: `reserve_many` runs as
its own implicit transaction on a raw asyncpg connection (no events to write, so no unit of
work is needed; the internal route's concurrent calls share it, see `ReservationBatcher`),
`commit_many` inside the caller's transaction (the consumer's batch, with its inbox claims).

Locks are taken in one order everywhere: reservation rows, then balance rows in user order,
then quota rows (`reserve` holds the tokens before it counts the quota).

Out of order: a completion or failure for a job whose reservation is not known yet is
handled as follows. A failure leaves a RELEASED tombstone under that job id, so a late
reserve call for the job holds nothing. A completion cannot be charged without the
reservation, so it is retried (the consumer's retry path) until the reservation exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

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
from lib_database import Database, UnitOfWork, driver_of

log = structlog.get_logger(__name__)

_T = TypeVar("_T")

LEDGER_SOURCE = "reservation"

_COLUMNS = (
    "id, user_id, job_id, amount, status, source, expires_at, committed_at, released_at, created_at"
)

_BY_JOB_RAW = f"SELECT {_COLUMNS} FROM token_reservations WHERE job_id = $1"

# Many reservations in one statement (asyncpg parameters; at most one per user and per job).
# Per request: a job already known (in the statement's snapshot) gets its reservation back;
# else, if today's count (snapshot) is under the limit, the balance rows are locked in user
# order (two statements never wait for each other in a cycle), the tokens held where the
# latest balance allows, the day's quota counted and the reservation written. Nothing refused
# after the hold can be undone by a later step, so such races end the statement with an error
# instead, which rolls all of it back: the same job reserved concurrently breaks the unique
# job_id, the quota's last use taken concurrently breaks the quota row's CHECK (used <=
# daily_limit). A request held nothing gets a 'refused' row with the limit and today's count:
# past it, that was the reason; else the balance was.
_RESERVE_MANY = f"""
WITH request AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[])
        AS r(user_id, job_id, amount, source)
), existing AS (
    SELECT {_COLUMNS} FROM token_reservations WHERE job_id = ANY($2::text[])
), plan AS (
    SELECT r.user_id, p.tier,
           COALESCE(CAST(CAST($5::text AS jsonb) ->> p.tier AS integer),
                    p.daily_generations) AS daily_limit
    FROM request r
    LEFT JOIN subscriptions s ON s.user_id = r.user_id
    JOIN subscription_plans p ON p.tier = COALESCE(s.tier, 'FREE')
), today AS (
    SELECT user_id, used FROM daily_quotas WHERE user_id = ANY($1::text[]) AND quota_date = $6
), allowed AS (
    SELECT r.*, plan.tier, plan.daily_limit
    FROM request r JOIN plan ON plan.user_id = r.user_id
    LEFT JOIN today ON today.user_id = r.user_id
    WHERE NOT EXISTS (SELECT FROM existing e WHERE e.job_id = r.job_id)
      AND plan.daily_limit > COALESCE(today.used, 0)
), locked AS (
    SELECT b.user_id FROM user_token_balances b
    WHERE b.user_id IN (SELECT user_id FROM allowed)
    ORDER BY b.user_id
    FOR UPDATE
), held AS (
    UPDATE user_token_balances b SET reserved = b.reserved + a.amount, updated_at = $8
    FROM allowed a JOIN locked l ON l.user_id = a.user_id
    WHERE b.user_id = a.user_id AND b.balance - b.reserved >= a.amount
    RETURNING a.user_id, a.job_id, a.amount, a.source, a.tier, a.daily_limit
), quota AS (
    INSERT INTO daily_quotas
        (id, user_id, quota_date, tier, daily_limit, used, resets_at, created_at, updated_at)
    SELECT CAST(gen_random_uuid() AS text), h.user_id, $6, h.tier, h.daily_limit, 1, $7, $8, $8
    FROM held h
    ON CONFLICT (user_id, quota_date) DO UPDATE
    SET used = daily_quotas.used + 1, daily_limit = EXCLUDED.daily_limit,
        tier = EXCLUDED.tier, updated_at = EXCLUDED.updated_at
    RETURNING user_id
), created AS (
    INSERT INTO token_reservations
        (id, user_id, job_id, amount, status, source, expires_at, created_at, updated_at)
    SELECT CAST(gen_random_uuid() AS text), h.user_id, h.job_id, h.amount, 'HELD', h.source,
           $9, $8, $8
    FROM held h JOIN quota q ON q.user_id = h.user_id
    RETURNING {_COLUMNS}
)
SELECT 'created' AS outcome, {_COLUMNS}, NULL::integer AS daily_limit, NULL::integer AS used
FROM created
UNION ALL
SELECT 'existing', {_COLUMNS}, NULL, NULL FROM existing
UNION ALL
SELECT 'refused', NULL, r.user_id, r.job_id, {", ".join("NULL" for _ in _COLUMNS.split(",")[3:])},
       plan.daily_limit, today.used
FROM request r
LEFT JOIN plan ON plan.user_id = r.user_id
LEFT JOIN today ON today.user_id = r.user_id
WHERE NOT EXISTS (SELECT FROM created c WHERE c.job_id = r.job_id)
  AND NOT EXISTS (SELECT FROM existing e WHERE e.job_id = r.job_id)
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

# Many commits in one statement (asyncpg parameters; at most one per user). Each held
# reservation a completion names (by our id, else by the job id) is marked, and so locked,
# first; then the balance rows, in user order, and the ledger spends the held tokens and
# appends each SPEND row with its balance_after. A reservation not held gives no row.
_COMMIT_MANY = f"""
WITH request AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
        AS r(reservation_id, job_id, transaction_id, metadata)
), named AS (
    SELECT r.*, COALESCE(
        (SELECT t.id FROM token_reservations t WHERE t.id = r.reservation_id),
        (SELECT t.id FROM token_reservations t WHERE t.job_id = r.job_id)
    ) AS id
    FROM request r
), target AS (
    UPDATE token_reservations t
    SET status = 'COMMITTED', committed_at = $5, updated_at = $5
    FROM named n
    -- Held, said through the timestamps (the CHECKs tie them to the status): with `status =
    -- 'HELD'` the planner may scan the partial expiry index, whose entries of committed rows
    -- stay until vacuum, instead of looking each id up.
    WHERE t.id = n.id AND t.committed_at IS NULL AND t.released_at IS NULL
    RETURNING {", ".join(f"t.{c.strip()}" for c in _COLUMNS.split(","))},
              n.transaction_id, n.metadata
), locked AS (
    SELECT b.user_id FROM user_token_balances b
    WHERE b.user_id IN (SELECT user_id FROM target)
    ORDER BY b.user_id
    FOR UPDATE
), spend AS (
    SELECT t.transaction_id, t.user_id, -t.amount AS amount,
           -t.amount AS reserved_delta, $6::text AS type, $7::text AS source,
           t.id AS source_id,
           jsonb_build_object('jobId', t.job_id) || CAST(t.metadata AS jsonb) AS metadata,
           $5::timestamptz AS now
    FROM target t JOIN locked l ON l.user_id = t.user_id
), {ledger.posting("spend")}
SELECT {", ".join(f"t.{c.strip()}" for c in _COLUMNS.split(","))}, t.transaction_id,
       p.balance_after
FROM target t LEFT JOIN posted p ON p.id = t.transaction_id
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


@dataclass(frozen=True, slots=True)
class ReservationRequest:
    """A reserve call: hold `amount` tokens of `user_id` for `job_id`."""

    user_id: str
    job_id: str
    amount: int
    source: str | None


@dataclass(frozen=True, slots=True)
class Reserved:
    """A reserve call's answer: the job's reservation, and whether this call made it."""

    reservation: Reservation
    created: bool


@dataclass(frozen=True, slots=True)
class Completion:
    """A completed job whose held tokens are to be spent (`content.generation.completed`).
    `user_id` is the event's word for whose tokens they are: it only spreads the commits over
    statements; the statement spends from the reservation's own user."""

    reservation_id: str
    job_id: str
    user_id: str | None
    metadata: dict[str, Any]


def in_rounds(items: Sequence[_T], *keys: Callable[[_T], object]) -> list[list[int]]:
    """Positions of `items` split into rounds in which no two share any key (a user, a job;
    None shares nothing), in their order: each round is one statement that may touch a row
    only once."""
    rounds: list[list[int]] = []
    taken: list[set[tuple[int, object]]] = []  # per round, its (key number, value) pairs
    for position, item in enumerate(items):
        values = {(n, value) for n, key in enumerate(keys) if (value := key(item)) is not None}
        for members, seen in zip(rounds, taken, strict=True):
            if not values & seen:
                members.append(position)
                seen |= values
                break
        else:
            rounds.append([position])
            taken.append(values)
    return rounds


def _same_request(reservation: Reservation, request: ReservationRequest) -> Reserved:
    if reservation.user_id != request.user_id or reservation.amount != request.amount:
        raise ReservationConflictError()
    return Reserved(reservation, created=False)


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
    """Hold `amount` tokens for `job_id`; (the reservation, whether it is new). One call on
    its own; the internal route coalesces concurrent calls (`ReservationBatcher`)."""
    request = ReservationRequest(user_id, job_id, amount, source)
    async with database.driver_connection() as driver:
        (outcome,) = await reserve_many(
            driver, [request], daily_limits=daily_limits, hold_for=hold_for
        )
    if isinstance(outcome, Exception):
        raise outcome
    return outcome.reservation, outcome.created


# Where a race with another statement ends a round's statement (a deadlock names no table).
_RACED_TABLES = ("token_reservations", "daily_quotas", None)


async def reserve_many(
    driver: asyncpg.Connection,
    requests: Sequence[ReservationRequest],
    *,
    daily_limits: Mapping[str, int],
    hold_for: timedelta,
) -> list[Reserved | Exception]:
    """Hold tokens for each request, each committed on its own implicit transaction; per
    request its `Reserved` or the refusal to raise for it (quota, balance, conflict).

    One statement per round of requests with distinct users and jobs (usually one round),
    on a raw asyncpg connection outside any transaction (asyncpg prepares it once per
    connection). A race that ends a round's statement (see `_RESERVE_MANY`) changed nothing;
    its requests are then tried one by one, where the race has its own answer."""
    outcomes: list[Reserved | Exception | None] = [None] * len(requests)
    limits = json.dumps(dict(daily_limits))
    for members in in_rounds(requests, lambda r: r.user_id, lambda r: r.job_id):
        batch = [requests[position] for position in members]
        try:
            answered = await _reserve_round(driver, batch, limits, hold_for)
        except (
            asyncpg.UniqueViolationError,
            asyncpg.CheckViolationError,
            asyncpg.DeadlockDetectedError,  # another process's statement locking otherwise
        ) as error:
            if getattr(error, "table_name", None) not in _RACED_TABLES:
                raise
            answered = [await _reserve_after_race(driver, r, limits, hold_for) for r in batch]
        for position, outcome in zip(members, answered, strict=True):
            outcomes[position] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


async def _reserve_round(
    driver: asyncpg.Connection,
    requests: Sequence[ReservationRequest],
    limits: str,
    hold_for: timedelta,
) -> list[Reserved | Exception]:
    now = utc_now()
    rows = await driver.fetch(
        _RESERVE_MANY,
        [r.user_id for r in requests],
        [r.job_id for r in requests],
        [r.amount for r in requests],
        [r.source for r in requests],
        limits,
        utc_day(now),
        quotas.next_reset(now),
        now,
        now + hold_for,
    )
    by_job = {row["job_id"]: row for row in rows}
    outcomes: list[Reserved | Exception] = []
    for request in requests:
        row = by_job[request.job_id]
        if row["outcome"] == "created":
            outcomes.append(Reserved(Reservation.of_record(row), created=True))
        elif row["outcome"] == "existing":
            outcomes.append(_answer_existing(Reservation.of_record(row), request))
        else:
            outcomes.append(await _refusal(driver, row, request, now))
    return outcomes


def _answer_existing(reservation: Reservation, request: ReservationRequest) -> Reserved | Exception:
    try:
        return _same_request(reservation, request)
    except ReservationConflictError as conflict:
        return conflict


async def _reserve_after_race(
    driver: asyncpg.Connection, request: ReservationRequest, limits: str, hold_for: timedelta
) -> Reserved | Exception:
    """One request on its own after its round lost a race: the race's own answer."""
    try:
        (outcome,) = await _reserve_round(driver, [request], limits, hold_for)
        return outcome
    except asyncpg.UniqueViolationError as error:
        if error.table_name != "token_reservations":
            raise
        # The same job was reserved at the same moment, and that one is committed now.
        existing = await driver.fetchrow(_BY_JOB_RAW, request.job_id)
        if existing is None:  # cannot happen: the violating reservation is committed
            raise RuntimeError(f"job {request.job_id} conflicted but has no reservation") from None
        return _answer_existing(Reservation.of_record(existing), request)
    except asyncpg.CheckViolationError as error:
        if error.table_name != "daily_quotas":
            raise
        # The day's last use went to a concurrent call; the statement changed nothing.
        now = utc_now()
        limit = await driver.fetchval(_DAILY_LIMIT, request.user_id, limits)
        return DailyQuotaExceededError(limit=limit or 0, resets_at=quotas.next_reset(now))


async def _refusal(
    driver: asyncpg.Connection, row: asyncpg.Record, request: ReservationRequest, now: datetime
) -> Exception:
    """Why the statement held nothing for a request: the quota first (as it always was), then
    the balance, read again (the statement's hold saw a newer state than its snapshot)."""
    limit, used = row["daily_limit"], row["used"]
    if not limit or (used is not None and used >= limit):
        return DailyQuotaExceededError(limit=limit or 0, resets_at=quotas.next_reset(now))
    spendable = await driver.fetchval(_SPENDABLE, request.user_id)
    if spendable is None:
        return NoTokenBalanceError()
    return InsufficientTokensError(required=request.amount, available=int(spendable))


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
    (done,) = await commit_many(conn, [Completion(reservation_id, job_id, None, metadata)])
    return done


async def commit_many(conn: AsyncConnection, completions: Sequence[Completion]) -> list[bool]:
    """Spend the held tokens of each completed job, inside the caller's transaction (the
    consumer's, with its inbox claims): one statement per round of completions with distinct
    users (usually one). Per completion, whether it spent tokens now; a completion whose
    reservation is not known yet raises `ReservationNotFoundYetError` (retried later)."""
    driver = await driver_of(conn)
    spent = [False] * len(completions)
    for members in in_rounds(
        completions, lambda c: c.user_id, lambda c: c.reservation_id, lambda c: c.job_id
    ):
        now = utc_now()
        transaction_ids = [new_id() for _ in members]
        args = (
            [completions[p].reservation_id for p in members],
            [completions[p].job_id for p in members],
            transaction_ids,
            [json.dumps(completions[p].metadata) for p in members],
            now,
            TokenTransactionType.SPEND.value,
            LEDGER_SOURCE,
        )
        rows: Sequence[Mapping[Any, Any]]
        if driver.is_in_transaction():
            # The consumer's transaction (begun by its inbox claim): straight on the driver,
            # without SQLAlchemy's per-statement work.
            rows = await driver.fetch(_COMMIT_MANY, *args)
        else:
            # The transaction is not begun yet (SQLAlchemy begins it with its first statement).
            rows = (await conn.exec_driver_sql(_COMMIT_MANY, args)).mappings().all()
        by_transaction = {row["transaction_id"]: row for row in rows}
        for position, transaction_id in zip(members, transaction_ids, strict=True):
            row = by_transaction.get(transaction_id)
            if row is None:
                continue
            if row["balance_after"] is None:
                # Held tokens are always in the balance, so only a missing balance row (or two
                # reservations of one user in one round, which the event's user_id should have
                # kept apart) gets here: the caller's transaction must not keep the reservation
                # marked without its SPEND row.
                raise await ledger.refusal(conn, row["user_id"], -row["amount"])
            spent[position] = True
    for completion, done in zip(completions, spent, strict=True):
        if not done:
            await _nothing_held(conn, completion)
    return spent


async def _nothing_held(conn: AsyncConnection, completion: Completion) -> None:
    """A completion that spent nothing: committed before (a duplicate), released before the
    job completed (logged), or not reserved yet (raised, so the event is retried)."""
    known = await _lock_for_event(conn, completion.reservation_id, completion.job_id)
    if known is None:
        raise ReservationNotFoundYetError(
            f"no reservation {completion.reservation_id} / job {completion.job_id}"
        )
    if known.status == ReservationStatus.RELEASED:
        log.warning(
            "reservation.completed_after_release", reservation_id=known.id, job_id=known.job_id
        )


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
