"""The whole bus under load: a writer committing probes, identity's relay, billing's consumer.

Used by the end-to-end and the latency benchmarks. Two layouts:

- `single`: writer, relay (identity's `EventWorker`) and consumer (billing's `EventWorker`) share
  one process and one event loop.
- `processes`: each runs in its own process (spawned), as in production, where the writer is
  identity's API and each service has its own worker process. On 2 cores they then compete
  with Postgres and RabbitMQ for the CPU instead of for one event loop.

Times are `time.monotonic()` (CLOCK_MONOTONIC, system-wide on Linux), so they compare across
processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Literal

from lib_database import Database, UnitOfWork
from lib_messaging.worker import EventWorker
from lib_settings import ServiceSettings

from environment import (
    BenchEnvironment,
    BenchProbe,
    ProbeTally,
    probe_subscription,
    tallying_uow_factory,
    wait_for,
)
from prototypes import AsyncpgInboxUnitOfWork, asyncpg_probe_subscription, create_asyncpg_pool

Layout = Literal["single", "processes"]
LAYOUTS: tuple[Layout, ...] = ("single", "processes")
ConsumerKind = Literal["as-is", "lean"]
CONSUMER_KINDS: tuple[ConsumerKind, ...] = ("as-is", "lean")


@dataclass(frozen=True)
class WriterPlan:
    """What the writer commits: `warmup_events` unmeasured, then `events` measured probes.

    With `interval_s` set, one transaction of `per_transaction` events starts every
    `interval_s` on a fixed schedule (a steady rate); without it, as fast as it can.
    """

    events: int
    per_transaction: int
    interval_s: float | None = None
    warmup_events: int = 0


@dataclass
class WriterReport:
    first_commit_started_at: float = 0.0
    last_commit_returned_at: float = 0.0
    events: int = 0
    late_transactions: int = 0  # started more than one interval behind schedule


@dataclass
class PipelineResult:
    writer: WriterReport
    handled: int
    last_handled_at: float
    latencies_s: list[float] = field(default_factory=list)

    @property
    def commit_to_handled_s(self) -> float:
        return self.last_handled_at - self.writer.first_commit_started_at


async def write_probes(database: Database, source: str, plan: WriterPlan) -> WriterReport:
    """Commit the plan's probes; measured probes carry `sent_at` = monotonic just before commit."""
    report = WriterReport()
    total = plan.warmup_events + plan.events
    started = time.monotonic()
    for index, first in enumerate(range(0, total, plan.per_transaction)):
        if plan.interval_s is not None:
            due = started + index * plan.interval_s
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > plan.interval_s:
                report.late_transactions += 1
        seqs = range(first, min(first + plan.per_transaction, total))
        measured = first >= plan.warmup_events
        async with UnitOfWork(database, source=source) as uow:
            sent_at = time.monotonic() if measured else 0.0
            for seq in seqs:
                uow.emit(BenchProbe(seq=seq, sent_at=sent_at), subject=f"probe-{seq}")
            if measured and not report.first_commit_started_at:
                report.first_commit_started_at = sent_at
            await uow.commit()
        if measured:
            report.events += len(seqs)
    report.last_commit_returned_at = time.monotonic()
    return report


def relay_worker(settings: ServiceSettings, database: Database) -> EventWorker:
    """identity's worker: its relay, no consumers."""
    return EventWorker(
        settings, database.engine, [], lambda: UnitOfWork(database, source=settings.service_name)
    )


@contextlib.asynccontextmanager
async def running_consumer(
    env: BenchEnvironment, tally: ProbeTally, kind: ConsumerKind
) -> AsyncIterator[EventWorker]:
    """billing's worker, started: its relay (idle: billing emits nothing) and the probe consumer.

    `as-is` applies events with the service's `UnitOfWork`; `lean` with the raw asyncpg
    prototype of `prototypes` (what the consumer could do after the proposed changes).
    """
    settings = env.billing_settings()
    database = Database.from_settings(settings)
    pool = await create_asyncpg_pool(settings) if kind == "lean" else None
    if pool is None:
        subscription = probe_subscription(tally)
        uow_factory: Callable[[], Any] = tallying_uow_factory(database, settings, tally)
    else:
        subscription = asyncpg_probe_subscription()
        uow_factory = lambda: AsyncpgInboxUnitOfWork(pool, tally)  # noqa: E731
    worker = EventWorker(settings, database.engine, [subscription], uow_factory)
    try:
        await worker.start()
        yield worker
    finally:
        await worker.stop()
        if pool is not None:
            await pool.close()
        await database.dispose()


# -- single process ----------------------------------------------------------------------------


async def run_single_process(
    env: BenchEnvironment, plan: WriterPlan, *, consumer: ConsumerKind, timeout_s: float
) -> PipelineResult:
    identity = env.identity_settings()
    identity_db = Database.from_settings(identity)
    tally = ProbeTally()
    relay = relay_worker(identity, identity_db)
    try:
        async with running_consumer(env, tally, consumer):
            await relay.start()
            try:
                writer = await write_probes(identity_db, identity.service_name, plan)
                expected = plan.warmup_events + plan.events
                await wait_for(
                    lambda: tally.handled >= expected, timeout_s=timeout_s, what="all handled"
                )
            finally:
                await relay.stop()
    finally:
        await identity_db.dispose()
        await truncate_pipeline_tables(env)
    return PipelineResult(writer, tally.handled, tally.last_handled_at, tally.latencies_s)


# -- one process each --------------------------------------------------------------------------


def _consumer_process(
    env: BenchEnvironment, kind: ConsumerKind, expected: int, timeout_s: float, pipe: Connection
) -> None:
    asyncio.run(_consume(env, kind, expected, timeout_s, pipe))


async def _consume(
    env: BenchEnvironment, kind: ConsumerKind, expected: int, timeout_s: float, pipe: Connection
) -> None:
    env.configure_logging()
    tally = ProbeTally()
    async with running_consumer(env, tally, kind):
        pipe.send("ready")
        await wait_for(lambda: tally.handled >= expected, timeout_s=timeout_s, what="all handled")
        pipe.send((tally.handled, tally.last_handled_at, tally.latencies_s))


def _relay_process(env: BenchEnvironment, pipe: Connection) -> None:
    asyncio.run(_relay(env, pipe))


async def _relay(env: BenchEnvironment, pipe: Connection) -> None:
    env.configure_logging()
    identity = env.identity_settings()
    identity_db = Database.from_settings(identity)
    relay = relay_worker(identity, identity_db)
    try:
        await relay.start()
        pipe.send("ready")
        await asyncio.to_thread(pipe.recv)  # "stop"
    finally:
        await relay.stop()
        await identity_db.dispose()


def _writer_process(env: BenchEnvironment, plan: WriterPlan, pipe: Connection) -> None:
    asyncio.run(_write(env, plan, pipe))


async def _write(env: BenchEnvironment, plan: WriterPlan, pipe: Connection) -> None:
    env.configure_logging()
    identity = env.identity_settings()
    identity_db = Database.from_settings(identity)
    try:
        pipe.send(await write_probes(identity_db, identity.service_name, plan))
    finally:
        await identity_db.dispose()


def _receive(pipe: Connection, process: Any, timeout_s: float, what: str) -> Any:
    """The child's next message; fails early if the child died without sending it."""
    deadline = time.monotonic() + timeout_s
    while not pipe.poll(0.2):
        if not process.is_alive():
            raise RuntimeError(f"{what}: the {process.name} process exited ({process.exitcode})")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: no answer from the {process.name} process in {timeout_s}s")
    return pipe.recv()


async def run_in_processes(
    env: BenchEnvironment, plan: WriterPlan, *, consumer: ConsumerKind, timeout_s: float
) -> PipelineResult:
    context = multiprocessing.get_context("spawn")
    consumer_pipe, consumer_end = context.Pipe()
    relay_pipe, relay_end = context.Pipe()
    writer_pipe, writer_end = context.Pipe()
    expected = plan.warmup_events + plan.events
    consumer_process = context.Process(
        target=_consumer_process,
        args=(env, consumer, expected, timeout_s, consumer_end),
        name="consumer",
    )
    relay = context.Process(target=_relay_process, args=(env, relay_end), name="relay")
    writer = context.Process(target=_writer_process, args=(env, plan, writer_end), name="writer")
    processes = [consumer_process, relay, writer]
    try:
        consumer_process.start()
        relay.start()
        await asyncio.to_thread(_receive, consumer_pipe, consumer_process, 60, "consumer start")
        await asyncio.to_thread(_receive, relay_pipe, relay, 60, "relay start")
        writer.start()
        report: WriterReport = await asyncio.to_thread(
            _receive, writer_pipe, writer, timeout_s, "writer"
        )
        handled, last_handled_at, latencies = await asyncio.to_thread(
            _receive, consumer_pipe, consumer_process, timeout_s, "consumer"
        )
        relay_pipe.send("stop")
        for process in processes:
            await asyncio.to_thread(process.join, 30)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(5)
        await truncate_pipeline_tables(env)
    return PipelineResult(report, handled, last_handled_at, latencies)


async def truncate_pipeline_tables(env: BenchEnvironment) -> None:
    identity_db = Database.from_settings(env.identity_settings())
    billing_db = Database.from_settings(env.billing_settings())
    try:
        await env.truncate_outbox(identity_db)
        await env.truncate_consumer_tables(billing_db)
    finally:
        await identity_db.dispose()
        await billing_db.dispose()


async def run_pipeline(
    env: BenchEnvironment,
    plan: WriterPlan,
    *,
    layout: Layout,
    consumer: ConsumerKind = "as-is",
    timeout_s: float = 120,
) -> PipelineResult:
    if layout == "single":
        return await run_single_process(env, plan, consumer=consumer, timeout_s=timeout_s)
    return await run_in_processes(env, plan, consumer=consumer, timeout_s=timeout_s)
