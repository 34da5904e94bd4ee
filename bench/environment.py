"""The throwaway environment every benchmark runs in, and the probe event they all send.

`BenchEnvironment` provisions a fresh database (`bench_<run id>`) the way the test plugin does,
migrates identity (the producer) and billing (the consumer) into it, names an exchange and a
queue prefix no one else uses, and removes all of it again at the end. Services connect as
their own roles, exactly as in production.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import aio_pika
from billing.config import BillingSettings
from identity.config import IdentitySettings
from lib_database import Database, UnitOfWork
from lib_database.migrations import upgrade
from lib_database.provision import database_url, drop_database, provision
from lib_messaging.consumer import Subscription
from lib_messaging.envelope import Envelope, EventPayload, event_contract
from lib_messaging.relay import to_amqp_message
from lib_messaging.topology import all_queue_names
from lib_messaging.worker import queue_topology
from lib_settings import ServiceSettings, dev_password
from lib_web import configure_logging
from sqlalchemy import text

REPO_ROOT = Path(__file__).resolve().parent.parent
INIT_SQL = REPO_ROOT / "deploy" / "postgres" / "init.sql"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
QUEUE_EXPIRES_MS = 10 * 60 * 1000  # leftovers of a crashed run vanish by themselves
PROBE_TABLE = "bench_probe"


@event_contract("bench.probe.recorded", 1)
class BenchProbe(EventPayload):
    """The event every benchmark sends; `sent_at` is `time.monotonic()` just before commit.

    CLOCK_MONOTONIC is system-wide on Linux, so it can be compared across processes.
    """

    seq: int
    sent_at: float = 0.0


def probe_routing_key() -> str:
    return BenchProbe.routing_key()


def postgres_admin_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def amqp_url() -> str:
    return os.environ.get("BENCH_AMQP_URL", DEFAULT_AMQP_URL)


def role_url(admin_url: str, database: str, role: str) -> str:
    """The asyncpg URL a service role uses to reach `database`."""
    rest = database_url(admin_url, database).split("@", 1)[1]
    return f"postgresql+asyncpg://{role}:{dev_password(role)}@{rest}"


@dataclass
class BenchEnvironment:
    """A fresh database and bus namespace for one bench run; `async with` creates and drops it."""

    admin_url: str
    amqp_url: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    extra_queues: list[str] = field(default_factory=list)

    @property
    def database(self) -> str:
        return f"bench_{self.run_id}"

    @property
    def exchange(self) -> str:
        return f"bench.{self.run_id}.events"

    @property
    def queue_prefix(self) -> str:
        return f"bench.{self.run_id}."

    def queue_name(self, purpose: str) -> str:
        """A queue owned by the bench itself (deleted at the end with the service queues)."""
        name = f"{self.queue_prefix}{purpose}"
        self.extra_queues.append(name)
        return name

    def settings(self, settings_class: type[ServiceSettings], **overrides: Any) -> Any:
        values: dict[str, Any] = {
            "environment": "development",
            "database_url": role_url(self.admin_url, self.database, settings_class.service_name),
            "amqp_url": self.amqp_url,
            "events_exchange": self.exchange,
            "queue_prefix": self.queue_prefix,
            "queue_expires_ms": QUEUE_EXPIRES_MS,
            "log_level": "WARNING",
        }
        values.update(overrides)
        return settings_class(**values)

    def identity_settings(self, **overrides: Any) -> IdentitySettings:
        settings: IdentitySettings = self.settings(IdentitySettings, **overrides)
        return settings

    def billing_settings(self, **overrides: Any) -> BillingSettings:
        settings: BillingSettings = self.settings(BillingSettings, **overrides)
        return settings

    async def __aenter__(self) -> Self:
        await provision(self.admin_url, self.database, INIT_SQL)
        try:
            for service in ("identity", "billing"):
                ini = REPO_ROOT / "services" / service / "alembic.ini"
                url = role_url(self.admin_url, self.database, service)
                # Alembic's env runs its own event loop: give it a thread without one.
                with ThreadPoolExecutor(1) as pool:
                    await asyncio.wrap_future(pool.submit(upgrade, str(ini), url))
            await self._create_probe_table()
        except BaseException:
            await drop_database(self.admin_url, self.database)
            raise
        self.configure_logging()
        return self

    def configure_logging(self) -> None:
        """The services' own logging set-up, warnings and up, on stderr (stdout is the report)."""
        configure_logging(self.identity_settings(), stream=sys.stderr)

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._delete_bus_objects()
        finally:
            await drop_database(self.admin_url, self.database)

    async def _create_probe_table(self) -> None:
        database = Database.from_settings(self.billing_settings())
        try:
            async with database.engine.begin() as conn:
                await conn.execute(
                    text(
                        f"CREATE TABLE {PROBE_TABLE} (event_id uuid PRIMARY KEY, seq int NOT NULL)"
                    )
                )
        finally:
            await database.dispose()

    async def _delete_bus_objects(self) -> None:
        topology = queue_topology(self.billing_settings(), probe_subscription(ProbeTally()))
        names = [*all_queue_names([topology]), *self.extra_queues]
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel()
            for name in names:
                await channel.queue_delete(name)
            await channel.exchange_delete(self.exchange)

    async def truncate_outbox(self, database: Database) -> None:
        """Empty identity's outbox (and its dead tuples) so each repetition starts equal."""
        async with database.engine.begin() as conn:
            await conn.execute(text("TRUNCATE outbox"))

    async def truncate_consumer_tables(self, database: Database) -> None:
        async with database.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE inbox, {PROBE_TABLE}"))


CONSUMER_GROUP = "bench"


@dataclass
class ProbeTally:
    """What the consumer side saw: how many probes it applied, when the last one, latencies."""

    handled: int = 0
    last_handled_at: float = 0.0
    latencies_s: list[float] = field(default_factory=list)

    def record(self, sent_at: float) -> None:
        now = time.monotonic()
        self.handled += 1
        self.last_handled_at = now
        if sent_at:
            self.latencies_s.append(now - sent_at)


class TallyingUnitOfWork(UnitOfWork):
    """The service's unit of work, which also tallies each probe once its commit returned."""

    def __init__(self, database: Database, tally: ProbeTally, *, source: str) -> None:
        super().__init__(database, source=source)
        self.tally = tally
        # The consumer applies a batch of events per transaction: each is tallied on commit.
        self.probes_sent_at: list[float] = []

    async def commit(self) -> None:
        await super().commit()
        for sent_at in self.probes_sent_at:
            self.tally.record(sent_at)
        self.probes_sent_at = []


def probe_subscription(tally: ProbeTally) -> Subscription:
    """billing's handler group of the bench: one probe row per event, tallied on commit."""

    async def handle(payload: BenchProbe, envelope: Envelope, uow: TallyingUnitOfWork) -> None:
        await insert_probe_row(uow, envelope, payload.seq)
        uow.probes_sent_at.append(payload.sent_at)

    return Subscription.of(CONSUMER_GROUP, {BenchProbe: handle})


def tallying_uow_factory(
    database: Database, settings: ServiceSettings, tally: ProbeTally
) -> Callable[[], TallyingUnitOfWork]:
    return lambda: TallyingUnitOfWork(database, tally, source=settings.service_name)


async def fill_outbox(
    database: Database,
    settings: ServiceSettings,
    count: int,
    *,
    per_transaction: int,
    first_seq: int = 0,
) -> None:
    """Commit `count` probe events through the unit of work, `per_transaction` at a time."""
    for start in range(first_seq, first_seq + count, per_transaction):
        async with UnitOfWork(database, source=settings.service_name) as uow:
            for seq in range(start, min(start + per_transaction, first_seq + count)):
                uow.emit(BenchProbe(seq=seq), subject=f"probe-{seq}")
            await uow.commit()


async def insert_probe_row(uow: UnitOfWork, envelope: Envelope, seq: int) -> None:
    """The consumer's one row of work per event, in its unit of work (after the inbox row)."""
    await uow.session.execute(
        text(f"INSERT INTO {PROBE_TABLE} (event_id, seq) VALUES (:id, :seq)"),
        {"id": envelope.id, "seq": seq},
    )


def sample_message_body() -> bytes:
    """The body the relay publishes for a typical probe event (for baselines of equal size)."""
    envelope = Envelope.wrap(
        BenchProbe(seq=12_345, sent_at=time.monotonic()),
        source="identity",
        subject="probe-12345",
        correlation_id=uuid.uuid4().hex,
    )
    return to_amqp_message(envelope.model_dump(mode="json", by_alias=True)).body


# -- statistics --------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary_ms(latencies_s: Sequence[float]) -> dict[str, float]:
    ordered = sorted(latencies_s)
    return {
        "count": len(ordered),
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p95_ms": percentile(ordered, 0.95) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "max_ms": ordered[-1] * 1000 if ordered else math.nan,
    }


async def wait_for(check: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.005)
