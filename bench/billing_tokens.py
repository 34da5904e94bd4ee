"""Token reservation benchmark: `uv run python bench/billing_tokens.py [--quick] [options]`.

Reserve/commit round trips per second under concurrency (billing's own use cases: the
reservation with its daily quota as the internal route runs it, one autocommit statement,
then the commit that spends the held tokens with its ledger row, one statement in a
transaction as the consumer runs it), beside the raw baseline of a single-row
`UPDATE ... RETURNING` through asyncpg, measured in the same run, alternating, on the same
throwaway database. At the end every balance must
equal its ledger's sum, every `balance_after` must chain, nothing may stay held, and each
round trip must have left exactly one SPEND row, and each balance's held tokens must be its
HELD reservations' sum. Figures go to stdout and
bench/results/billing_tokens.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from billing.domain import ledger, regeneration, reservations
from billing.models import TokenTransactionType, utc_now
from lib_contracts.content import GenerationCompleted
from lib_database import Database, UnitOfWork
from sqlalchemy import text

from environment import BenchEnvironment, amqp_url, postgres_admin_url, role_url

CONSUMER = "billing.generations"  # the inbox key of billing's generation consumer
RESULTS = Path(__file__).resolve().parent / "results" / "billing_tokens.json"
TARGET_RATIO = 0.40
START_TOKENS = 10_000_000
# No quota in the way: the benchmark measures the ledger, not the refusal.
UNLIMITED = {"FREE": 1_000_000_000}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--concurrency", type=int, default=16, help="callers at once")
    parser.add_argument("--users", type=int, default=64, help="balances the callers spread over")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one measurement")
    parser.add_argument("--repetitions", type=int, default=3, help="baseline/ledger pairs")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.repetitions = 2.0, 1
    return args


async def open_balances(database: Database, count: int) -> list[str]:
    users = [str(uuid.uuid4()) for _ in range(count)]
    async with UnitOfWork(database, source="billing") as uow:
        for user_id in users:
            await regeneration.open_balance(uow.connection, user_id, now=utc_now())
            await ledger.post(
                uow.connection,
                user_id=user_id,
                amount=START_TOKENS,
                type_=TokenTransactionType.ADMIN_ADJUSTMENT,
                source="bench",
                source_id=user_id,
            )
        await uow.commit()
    return users


async def until(deadline: float, step: Any) -> int:
    done = 0
    while time.monotonic() < deadline:
        await step(done)
        done += 1
    return done


async def commit_as_the_consumer(database: Database, reservation: reservations.Reservation) -> None:
    """The commit in a transaction of its own after the event's inbox claim, as the consumer
    runs it for a batch of one event (its worst case: a batch of up to 16 shares one
    BEGIN/COMMIT and inbox claim)."""
    async with UnitOfWork(database, source="billing") as uow:
        await uow.claim_inbox(CONSUMER, [(uuid.uuid4(), GenerationCompleted.event_type)])
        await reservations.commit(
            uow.connection, reservation_id=reservation.id, job_id=reservation.job_id, metadata={}
        )
        await uow.commit()


async def commit_statement_alone(database: Database, reservation: reservations.Reservation) -> None:
    """The same commit statement committed on its own (no BEGIN/COMMIT round trips): not what
    production runs, the floor of one statement per step, for reading the ratio."""
    async with database.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await reservations.commit(
            autocommit, reservation_id=reservation.id, job_id=reservation.job_id, metadata={}
        )


async def measure_ledger(
    database: Database,
    users: list[str],
    concurrency: int,
    seconds: float,
    commit: Any = commit_as_the_consumer,
) -> float:
    """Reserve + commit round trips per second, `concurrency` callers for `seconds`."""

    def caller(index: int) -> Any:
        async def round_trip(n: int) -> None:
            user_id = users[(index + n * concurrency) % len(users)]
            reservation, created = await reservations.reserve(
                database,
                user_id=user_id,
                job_id=str(uuid.uuid4()),
                amount=1,
                source="bench",
                daily_limits=UNLIMITED,
                hold_for=timedelta(minutes=30),
            )
            assert created
            await commit(database, reservation)

        return round_trip

    deadline = time.monotonic() + seconds
    started = time.monotonic()
    counts = await asyncio.gather(*(until(deadline, caller(i)) for i in range(concurrency)))
    return sum(counts) / (time.monotonic() - started)


async def keep_session(_: asyncpg.Connection) -> None:
    """The baseline's connections run one statement and keep no session state: no reset."""


async def measure_baseline(
    pool: asyncpg.Pool, rows: int, concurrency: int, seconds: float
) -> float:
    """Single-row `UPDATE ... RETURNING` per second through asyncpg (autocommit; the pool
    skips asyncpg's reset round trip on release, as billing's connections do)."""

    def caller(index: int) -> Any:
        async def update(n: int) -> None:
            async with pool.acquire() as conn:
                await conn.fetchval(
                    "UPDATE bench_counters SET n = n + 1 WHERE id = $1 RETURNING n",
                    (index + n * concurrency) % rows,
                )

        return update

    deadline = time.monotonic() + seconds
    started = time.monotonic()
    counts = await asyncio.gather(*(until(deadline, caller(i)) for i in range(concurrency)))
    return sum(counts) / (time.monotonic() - started)


async def measure_empty_transactions(database: Database, concurrency: int, seconds: float) -> float:
    """Units of work that run `SELECT 1` and commit, per second: the floor every use case
    pays (pool checkout, BEGIN, COMMIT through SQLAlchemy), for reading the ratio."""

    def caller(index: int) -> Any:
        async def empty(n: int) -> None:
            async with UnitOfWork(database, source="billing") as uow:
                await uow.connection.execute(text("SELECT 1"))
                await uow.commit()

        return empty

    deadline = time.monotonic() + seconds
    started = time.monotonic()
    counts = await asyncio.gather(*(until(deadline, caller(i)) for i in range(concurrency)))
    return sum(counts) / (time.monotonic() - started)


async def inconsistencies(database: Database) -> dict[str, int]:
    """Counts of broken invariants (all must be 0)."""
    checks = {
        "balance_not_ledger_sum": (
            "SELECT count(*) FROM user_token_balances b WHERE b.balance <> "
            "(SELECT COALESCE(sum(t.amount), 0) FROM token_transactions t "
            "WHERE t.user_id = b.user_id)"
        ),
        "broken_chain": (
            "SELECT count(*) FROM (SELECT balance_after, amount, lag(balance_after, 1, 0) "
            "OVER (PARTITION BY user_id ORDER BY created_at, id) AS previous "
            "FROM token_transactions) c WHERE c.balance_after <> c.previous + c.amount"
        ),
        "still_held": "SELECT count(*) FROM token_reservations WHERE status = 'HELD'",
        "held_tokens": "SELECT COALESCE(sum(reserved), 0) FROM user_token_balances",
        "held_not_reservations": (
            "SELECT count(*) FROM user_token_balances b WHERE b.reserved <> "
            "(SELECT COALESCE(sum(r.amount), 0) FROM token_reservations r "
            "WHERE r.user_id = b.user_id AND r.status = 'HELD')"
        ),
        "committed_without_spend": (
            "SELECT count(*) FROM token_reservations r WHERE r.status = 'COMMITTED' AND NOT "
            "EXISTS (SELECT 1 FROM token_transactions t WHERE t.type = 'SPEND' "
            "AND t.source = 'reservation' AND t.source_id = r.id)"
        ),
        "spends_without_commit": (
            "SELECT (SELECT count(*) FROM token_transactions WHERE type = 'SPEND') - "
            "(SELECT count(*) FROM token_reservations WHERE status = 'COMMITTED')"
        ),
    }
    async with database.engine.connect() as conn:
        return {
            name: int((await conn.execute(text(sql))).scalar_one()) for name, sql in checks.items()
        }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with BenchEnvironment(postgres_admin_url(), amqp_url()) as env:
        settings = env.billing_settings(
            database_pool_size=args.concurrency, database_max_overflow=0
        )
        database = Database.from_settings(settings)
        pool = await asyncpg.create_pool(
            role_url(env.admin_url, env.database, "billing").replace("+asyncpg", ""),
            min_size=args.concurrency,
            max_size=args.concurrency,
            reset=keep_session,
            server_settings={"search_path": "billing"},
        )
        try:
            async with pool.acquire() as conn:
                await conn.execute(
                    "CREATE TABLE bench_counters (id int PRIMARY KEY, n bigint NOT NULL)"
                )
                await conn.execute(
                    "INSERT INTO bench_counters SELECT g, 0 FROM generate_series(0, $1) g",
                    args.users - 1,
                )
            users = await open_balances(database, args.users)
            # Warm both paths (connections, prepared statements) before measuring.
            await measure_baseline(pool, args.users, args.concurrency, 0.5)
            await measure_ledger(database, users, args.concurrency, 0.5)
            baseline, ledger_rates, empty_rates, statement_rates = [], [], [], []
            for _ in range(args.repetitions):
                empty_rates.append(
                    await measure_empty_transactions(database, args.concurrency, args.seconds / 2)
                )
                baseline.append(
                    await measure_baseline(pool, args.users, args.concurrency, args.seconds)
                )
                ledger_rates.append(
                    await measure_ledger(database, users, args.concurrency, args.seconds)
                )
                statement_rates.append(
                    await measure_ledger(
                        database,
                        users,
                        args.concurrency,
                        args.seconds / 2,
                        commit=commit_statement_alone,
                    )
                )
            broken = await inconsistencies(database)
        finally:
            await pool.close()
            await database.dispose()
    base, rate = statistics.median(baseline), statistics.median(ledger_rates)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "concurrency": args.concurrency,
        "users": args.users,
        "seconds": args.seconds,
        "baseline_updates_per_s": baseline,
        "reserve_commit_per_s": ledger_rates,
        "empty_unit_of_work_per_s": empty_rates,
        "reserve_commit_statements_alone_per_s": statement_rates,
        "median_empty_unit_of_work": round(statistics.median(empty_rates), 1),
        "median_reserve_commit_statements_alone": round(statistics.median(statement_rates), 1),
        "median_baseline": round(base, 1),
        "median_reserve_commit": round(rate, 1),
        "ratio": round(rate / base, 3),
        "target_ratio": TARGET_RATIO,
        "inconsistencies": broken,
        "met": rate / base >= TARGET_RATIO and not any(broken.values()),
    }


if __name__ == "__main__":
    arguments = parse_args()
    figures = asyncio.run(main(arguments))
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"raw UPDATE ... RETURNING (asyncpg): {figures['median_baseline']:>9,.0f} /s")
    print(f"empty unit of work (SELECT 1):      {figures['median_empty_unit_of_work']:>9,.0f} /s")
    print(f"reserve + commit (billing):         {figures['median_reserve_commit']:>9,.0f} /s")
    print(
        "reserve + commit, both autocommit:  "
        f"{figures['median_reserve_commit_statements_alone']:>9,.0f} /s"
    )
    print(
        f"ratio {figures['ratio']:.0%} (target >= {TARGET_RATIO:.0%}), "
        f"inconsistencies {figures['inconsistencies']}, met: {figures['met']}"
    )
