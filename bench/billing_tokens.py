"""Token reservation benchmark: `uv run python bench/billing_tokens.py [--quick] [options]`.

Reserve/commit round trips per second under concurrency, through billing's own code as
production runs it: the reserve through the internal route's `ReservationBatcher` (concurrent
calls share one statement), then the job's `content.generation.completed` event applied by
billing's generations consumer (its real subscription and `apply_events`, up to
its batch of events per transaction, `consumer_concurrency` transactions at once;
only the broker is left out), beside the raw baseline of a single-row `UPDATE ... RETURNING`
through asyncpg, measured in the same run, alternating, on the same throwaway database and
the same number of connections. At the end every balance must equal its ledger's sum, every
`balance_after` must chain, nothing may stay held, each round trip must have left exactly
one SPEND row, and each balance's held tokens must be its HELD reservations' sum. Figures go
to stdout and bench/results/billing_tokens.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
from billing.config import BillingSettings
from billing.domain import ledger, regeneration, reservations
from billing.domain.reservation_batcher import ReservationBatcher
from billing.domain.reservations import ReservationRequest
from billing.events import build_subscriptions
from billing.models import TokenTransactionType, utc_now
from lib_contracts.content import GenerationCompleted
from lib_database import Database, UnitOfWork
from lib_database.provision import database_url
from lib_messaging.consumer import Subscription, apply_events
from lib_messaging.envelope import Envelope
from sqlalchemy import text

from environment import BenchEnvironment, amqp_url, postgres_admin_url, role_url

CONSUMER = "billing.generations"  # the inbox key of billing's generation consumer
RESULTS = Path(__file__).resolve().parent / "results" / "billing_tokens.json"
TARGET_RATIO = 0.40
START_TOKENS = 10_000_000
# No quota in the way: the benchmark measures the ledger, not the refusal.
UNLIMITED = {"FREE": 1_000_000_000}
HOLD_FOR = timedelta(minutes=30)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument(
        "--concurrency", type=int, default=128, help="callers (generation jobs) at once"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=16,
        help="database connections of the baseline's pool and of billing's pool",
    )
    parser.add_argument(
        "--consumer-batch",
        type=int,
        default=None,
        help="events per consumer transaction (default: the generations subscription's)",
    )
    parser.add_argument("--users", type=int, default=256, help="balances the callers spread over")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one measurement")
    parser.add_argument("--repetitions", type=int, default=3, help="baseline/ledger pairs")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of round trips before measuring"
    )
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


async def until(deadline: float, step: Callable[[int], Awaitable[None]]) -> int:
    done = 0
    while time.monotonic() < deadline:
        await step(done)
        done += 1
    return done


async def at_once(
    concurrency: int, seconds: float, step: Callable[[int, int], Awaitable[None]]
) -> float:
    """`concurrency` callers each running `step(caller, n)` in turn for `seconds`; steps/s."""
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    counts = await asyncio.gather(
        *(until(deadline, lambda n, i=i: step(i, n)) for i in range(concurrency))
    )
    return sum(counts) / (time.monotonic() - started)


def no_stripe() -> NoReturn:
    raise RuntimeError("the generations consumer never calls Stripe")


class GenerationsConsumer:
    """billing's generations consumer without the broker: `concurrency` appliers, each taking
    the events that have arrived (up to `batch_size`), decoding them and applying them in one
    transaction with `apply_events`, as `Consumer` does with the deliveries it receives."""

    def __init__(
        self, database: Database, settings: BillingSettings, batch_size: int | None = None
    ) -> None:
        self.database = database
        self.subscription: Subscription = next(
            s for s in build_subscriptions(no_stripe) if s.group == "generations"
        )
        self.batch_size = batch_size or self.subscription.batch_size or settings.consumer_batch_size
        self.concurrency = settings.consumer_concurrency
        self.received: asyncio.Queue[tuple[bytes, asyncio.Future[None]]] = asyncio.Queue()
        self.batch_sizes: list[int] = []
        self.appliers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.appliers = [asyncio.create_task(self._apply()) for _ in range(self.concurrency)]

    async def stop(self) -> None:
        for applier in self.appliers:
            applier.cancel()
        await asyncio.gather(*self.appliers, return_exceptions=True)

    async def deliver(self, body: bytes) -> None:
        """Hand over an event's message; returns once its transaction has committed."""
        applied: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.received.put_nowait((body, applied))
        await applied

    async def _apply(self) -> None:
        while True:
            batch = [await self.received.get()]
            while len(batch) < self.batch_size and not self.received.empty():
                batch.append(self.received.get_nowait())
            self.batch_sizes.append(len(batch))
            events = []
            for body, _ in batch:
                envelope = Envelope.model_validate_json(body)
                events.append((envelope, envelope.payload()))
            try:
                await apply_events(
                    lambda: UnitOfWork(self.database, source="billing"),
                    CONSUMER,
                    self.subscription,
                    events,
                )
            except Exception as error:  # the consumer would retry; the bench must not see it
                for _, applied in batch:
                    applied.set_exception(error)
            else:
                for _, applied in batch:
                    applied.set_result(None)


class CompletedEvents:
    """Stands in for content's worker: the message it publishes when a job is done. Built
    from one envelope rendered through the contracts, with each event's own ids filled in:
    how content makes its messages is content's cost, not billing's (billing's consumer still
    decodes and validates each one in full)."""

    def __init__(self) -> None:
        sample = GenerationCompleted(
            generation_id="job",
            kind="generation",
            user_id="user",
            reservation_id="reservation",
            tokens_reserved=1,
            completed_at=utc_now(),
        )
        self.template = Envelope.wrap(
            sample, source="content", subject="job", correlation_id="job"
        ).model_dump(mode="json", by_alias=True)

    def body(self, user_id: str, job_id: str, reservation_id: str) -> bytes:
        data = self.template["data"] | {
            "generationId": job_id,
            "userId": user_id,
            "reservationId": reservation_id,
        }
        envelope = self.template | {
            "id": str(uuid.uuid4()),
            "subject": job_id,
            "correlationId": job_id,
            "data": data,
        }
        return json.dumps(envelope).encode()


async def measure_ledger(
    users: list[str],
    concurrency: int,
    seconds: float,
    reserve: Callable[[ReservationRequest], Awaitable[tuple[reservations.Reservation, bool]]],
    consumer: GenerationsConsumer,
) -> float:
    """Reserve + commit round trips per second, `concurrency` callers for `seconds`."""
    events = CompletedEvents()

    async def round_trip(caller: int, n: int) -> None:
        user_id = users[(caller + n * concurrency) % len(users)]
        job_id = str(uuid.uuid4())
        reservation, created = await reserve(ReservationRequest(user_id, job_id, 1, "bench"))
        assert created
        await consumer.deliver(events.body(user_id, job_id, reservation.id))

    return await at_once(concurrency, seconds, round_trip)


def one_at_a_time(
    database: Database,
) -> Callable[[ReservationRequest], Awaitable[tuple[reservations.Reservation, bool]]]:
    """A reserve call on its own statement (the route before `ReservationBatcher`)."""

    async def reserve(request: ReservationRequest) -> tuple[reservations.Reservation, bool]:
        return await reservations.reserve(
            database,
            user_id=request.user_id,
            job_id=request.job_id,
            amount=request.amount,
            source=request.source,
            daily_limits=UNLIMITED,
            hold_for=HOLD_FOR,
        )

    return reserve


async def analyze(env: BenchEnvironment) -> None:
    """Fresh statistics for the planner (what autovacuum's analyze keeps in production)."""
    admin = await asyncpg.connect(database_url(env.admin_url, env.database))
    try:
        await admin.execute("ANALYZE")
    finally:
        await admin.close()


async def keep_session(_: asyncpg.Connection) -> None:
    """The baseline's connections run one statement and keep no session state: no reset."""


async def measure_baseline(
    pool: asyncpg.Pool, rows: int, concurrency: int, seconds: float
) -> float:
    """Single-row `UPDATE ... RETURNING` per second through asyncpg (autocommit; the pool
    skips asyncpg's reset round trip on release, as billing's connections do)."""

    async def update(caller: int, n: int) -> None:
        async with pool.acquire() as conn:
            await conn.fetchval(
                "UPDATE bench_counters SET n = n + 1 WHERE id = $1 RETURNING n",
                (caller + n * concurrency) % rows,
            )

    return await at_once(concurrency, seconds, update)


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
            database_pool_size=args.connections, database_max_overflow=0
        )
        database = Database.from_settings(settings)
        pool = await asyncpg.create_pool(
            role_url(env.admin_url, env.database, "billing").replace("+asyncpg", ""),
            min_size=args.connections,
            max_size=args.connections,
            reset=keep_session,
            server_settings={"search_path": "billing"},
        )
        batcher = ReservationBatcher(
            database,
            daily_limits=UNLIMITED,
            hold_for=HOLD_FOR,
            max_batch=settings.reservation_batch_size,
        )
        consumer = GenerationsConsumer(database, settings, args.consumer_batch)
        consumer.start()
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
            # Warm both paths (connections, prepared statements), give the tables some history
            # and let Postgres know their sizes, as a service's tables have them: the plans
            # Postgres makes for tables it believes empty are not the ones production runs.
            await measure_baseline(pool, args.users, args.concurrency, 0.5)
            await measure_ledger(users, args.concurrency, args.warmup, batcher.reserve, consumer)
            await analyze(env)
            baseline, ledger_rates, unbatched_rates = [], [], []
            for _ in range(args.repetitions):
                baseline.append(
                    await measure_baseline(pool, args.users, args.concurrency, args.seconds)
                )
                consumer.batch_sizes.clear()
                ledger_rates.append(
                    await measure_ledger(
                        users, args.concurrency, args.seconds, batcher.reserve, consumer
                    )
                )
                consumer_batches = list(consumer.batch_sizes)
                unbatched_rates.append(
                    await measure_ledger(
                        users, args.concurrency, args.seconds / 2, one_at_a_time(database), consumer
                    )
                )
            await batcher.aclose()
            broken = await inconsistencies(database)
        finally:
            await consumer.stop()
            await pool.close()
            await database.dispose()
    base, rate = statistics.median(baseline), statistics.median(ledger_rates)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "concurrency": args.concurrency,
        "connections": args.connections,
        "users": args.users,
        "seconds": args.seconds,
        "baseline_updates_per_s": baseline,
        "reserve_commit_per_s": ledger_rates,
        "reserve_one_at_a_time_per_s": unbatched_rates,
        "mean_consumer_batch": round(statistics.mean(consumer_batches), 1),
        "median_baseline": round(base, 1),
        "median_reserve_commit": round(rate, 1),
        "median_reserve_one_at_a_time": round(statistics.median(unbatched_rates), 1),
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
    print(f"raw UPDATE ... RETURNING (asyncpg):   {figures['median_baseline']:>9,.0f} /s")
    print(f"reserve + commit (billing):           {figures['median_reserve_commit']:>9,.0f} /s")
    print(
        f"the same, each reserve on its own:    {figures['median_reserve_one_at_a_time']:>9,.0f} /s"
    )
    print(
        f"ratio {figures['ratio']:.0%} (target >= {TARGET_RATIO:.0%}), "
        f"consumer batch {figures['mean_consumer_batch']}, "
        f"inconsistencies {figures['inconsistencies']}, met: {figures['met']}"
    )
