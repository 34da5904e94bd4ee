"""The event bus between two real services' schemas: identity produces, billing consumes.

Probe contracts and a probe table (created in billing's schema by billing's own role) stand in
for real handlers, so these tests prove the mechanism, not any one flow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import aio_pika
import pytest
from sqlalchemy import text

from billing.config import BillingSettings
from identity.config import IdentitySettings
from lib_database import Database, UnitOfWork
from lib_messaging.consumer import Subscription
from lib_messaging.envelope import Envelope, EventPayload, event_contract
from lib_messaging.topology import all_queue_names
from lib_messaging.worker import EventWorker, queue_topology
from lib_settings import ServiceSettings


@event_contract("test.probe.recorded", 1)
class ProbeRecorded(EventPayload):
    """A probe event; `fail` makes the failing handler of the dead-letter test raise."""

    seq: int
    fail: bool = False


@event_contract("test.probe.unrouted", 1)
class ProbeUnrouted(EventPayload):
    """Nobody binds this type: its publish is returned by the broker."""

    seq: int


PROBE_TABLE = "bus_probe"


async def record_probe(
    consumer: str, payload: ProbeRecorded, envelope: Envelope, uow: UnitOfWork
) -> None:
    """Counts applications per (consumer, event): exactly-once means every count is 1."""
    await uow.session.execute(
        text(
            f"INSERT INTO {PROBE_TABLE} (consumer, event_id, seq, applied) "
            "VALUES (:consumer, :id, :seq, 1) ON CONFLICT (consumer, event_id) "
            "DO UPDATE SET applied = bus_probe.applied + 1"
        ),
        {"consumer": consumer, "id": envelope.id, "seq": payload.seq},
    )


@pytest.fixture(scope="module")
def migrated(migrate_service: Callable[[str], None]) -> None:
    migrate_service("identity")
    migrate_service("billing")


@pytest.fixture
def producer_settings(service_settings: Callable[..., Any], migrated: None) -> IdentitySettings:
    return service_settings(IdentitySettings)


@pytest.fixture
def consumer_settings(service_settings: Callable[..., Any], migrated: None) -> BillingSettings:
    return service_settings(BillingSettings, consumer_delivery_limit=3)


@pytest.fixture
async def producer_db(producer_settings: IdentitySettings) -> AsyncIterator[Database]:
    db = Database.from_settings(producer_settings)
    yield db
    await db.dispose()


@pytest.fixture
async def consumer_db(consumer_settings: BillingSettings) -> AsyncIterator[Database]:
    db = Database.from_settings(consumer_settings)
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (consumer text, event_id uuid, "
                "seq int NOT NULL, applied int NOT NULL, PRIMARY KEY (consumer, event_id))"
            )
        )
    yield db
    async with db.engine.begin() as conn:  # leave the schema as its migrations made it
        await conn.execute(text(f"DROP TABLE IF EXISTS {PROBE_TABLE}"))
    await db.dispose()


def uow_for(db: Database, settings: ServiceSettings) -> Callable[[], UnitOfWork]:
    return lambda: UnitOfWork(db, source=settings.service_name)


async def emit_probes(
    db: Database,
    settings: ServiceSettings,
    seqs: Sequence[int],
    *,
    per_tx: int = 100,
    **fields: Any,
) -> None:
    model = fields.pop("model", ProbeRecorded)
    for start in range(0, len(seqs), per_tx):
        async with UnitOfWork(db, source=settings.service_name) as uow:
            for seq in seqs[start : start + per_tx]:
                uow.emit(model(seq=seq, **fields), subject=f"probe-{seq}")
            await uow.commit()


async def probe_counts(db: Database, consumer: str) -> tuple[int, int]:
    """(events applied, the highest application count of any event) for one consumer."""
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    f"SELECT count(*), coalesce(max(applied), 0) FROM {PROBE_TABLE} "
                    "WHERE consumer = :c"
                ),
                {"c": consumer},
            )
        ).one()
    return int(row[0]), int(row[1])


async def unpublished(db: Database, schema: str) -> int:
    async with db.engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text(f'SELECT count(*) FROM "{schema}".outbox WHERE published_at IS NULL')
                )
            ).scalar_one()
        )


async def wait_until(check: Callable[[], Awaitable[bool]], *, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within_s}s waiting for {what}")


async def start_worker(
    workers: list[EventWorker],
    settings: ServiceSettings,
    db: Database,
    *subscriptions: Subscription,
) -> EventWorker:
    """Start a service's worker (relay, and consumers for `subscriptions`) for this test."""
    worker = EventWorker(settings, db.engine, list(subscriptions), uow_for(db, settings))
    await worker.start()
    workers.append(worker)
    return worker


def probe_subscription(
    group: str, handler: Callable[..., Awaitable[None]] | None = None
) -> Subscription:
    consumer = f"billing.{group}"

    async def handle(payload: ProbeRecorded, envelope: Envelope, uow: UnitOfWork) -> None:
        await record_probe(consumer, payload, envelope, uow)

    return Subscription.of(group, {ProbeRecorded: handler or handle})


@pytest.fixture
async def workers(amqp_url: str) -> AsyncIterator[list[EventWorker]]:
    """Workers a test starts; stopped at the end, and their queues deleted, whatever happened."""
    started: list[EventWorker] = []
    yield started
    queues = [
        name
        for worker in started
        for subscription in worker.subscriptions
        for name in all_queue_names([queue_topology(worker.settings, subscription)])
    ]
    for worker in reversed(started):
        await worker.stop()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for name in queues:
            await channel.queue_delete(name)


@pytest.fixture(autouse=True)
async def no_events_left_behind(producer_db: Database) -> AsyncIterator[None]:
    """Each test starts and ends with an empty outbox, so no test publishes another's events."""
    await _clear_outbox(producer_db)
    yield
    await _clear_outbox(producer_db)


async def _clear_outbox(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM outbox"))
