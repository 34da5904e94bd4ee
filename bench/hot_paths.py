"""Benchmark 4 (optional, `--only hot-paths`): the consumer's hot path as it is, against the
lean prototypes of `prototypes` (the changes proposed in README.md).

Each variant drains the same backlog, `events` real envelopes published straight into
billing's queue (not timed), with one `lib_messaging.consumer.Consumer` (the configured
prefetch and pool), inbox row and probe row in one transaction per event:

- `as is`: `UnitOfWork` (an ORM `AsyncSession`) over `Database.from_settings` (pre-ping on).
- `no pre-ping`: the same, on an engine with `pool_pre_ping=False`.
- `core, prebuilt`: no pre-ping, a Core `AsyncConnection` instead of a session, and the inbox
  insert built once as a `text()` statement instead of `insert().values()` per event.
- `raw asyncpg`: an asyncpg pool (no reset query), prepared statements, no SQLAlchemy.

Variants alternate within each repetition; medians are reported.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
import asyncpg
from lib_database import Database
from lib_messaging.consumer import Consumer, Subscription
from lib_messaging.envelope import Envelope
from lib_messaging.relay import to_amqp_message
from lib_messaging.topology import declare_exchange
from lib_messaging.worker import queue_topology
from lib_settings import ServiceSettings
from sqlalchemy.ext.asyncio import AsyncEngine

from environment import (
    CONSUMER_GROUP,
    BenchEnvironment,
    BenchProbe,
    ProbeTally,
    median,
    probe_subscription,
    tallying_uow_factory,
    wait_for,
)
from prototypes import (
    AsyncpgInboxUnitOfWork,
    CoreInboxUnitOfWork,
    asyncpg_probe_subscription,
    create_asyncpg_pool,
    engine_without_pre_ping,
)


@dataclass(frozen=True)
class HotPathOptions:
    events: int = 5_000
    repetitions: int = 3


async def publish_backlog(
    env: BenchEnvironment, connection: aio_pika.abc.AbstractConnection, count: int
) -> None:
    """`count` real probe envelopes, routed to billing's queue as the relay would."""
    channel = await connection.channel(publisher_confirms=True)
    exchange = await declare_exchange(channel, env.exchange)
    for start in range(0, count, 200):
        messages = []
        for seq in range(start, min(start + 200, count)):
            envelope = Envelope.wrap(
                BenchProbe(seq=seq),
                source="identity",
                subject=f"probe-{seq}",
                correlation_id=uuid.uuid4().hex,
            )
            messages.append(to_amqp_message(envelope.model_dump(mode="json", by_alias=True)))
        await asyncio.gather(
            *(exchange.publish(m, routing_key=BenchProbe.routing_key()) for m in messages)
        )
    await channel.close()


async def consume_backlog(
    env: BenchEnvironment,
    connection: aio_pika.abc.AbstractRobustConnection,
    settings: ServiceSettings,
    subscription: Subscription,
    uow_factory: Callable[[], Any],
    tally: ProbeTally,
    count: int,
) -> float:
    """Events per second of one consumer draining `count` queued events."""
    consumer = Consumer(
        connection=connection,
        exchange_name=env.exchange,
        consumer_name=f"billing.{CONSUMER_GROUP}",
        topology=queue_topology(settings, subscription),
        subscription=subscription,
        uow_factory=uow_factory,
        prefetch=settings.consumer_prefetch,
    )
    started = time.monotonic()
    await consumer.start()
    try:
        await wait_for(lambda: tally.handled >= count, timeout_s=300, what="backlog consumed")
    finally:
        await consumer.stop()
    return count / (tally.last_handled_at - started)


def consumer_variants(
    settings: ServiceSettings, database: Database, lean_engine: AsyncEngine, pool: asyncpg.Pool
) -> dict[str, Callable[[ProbeTally], tuple[Subscription, Callable[[], Any]]]]:
    """Name -> (tally -> the subscription and unit-of-work factory of that variant)."""
    return {
        "as is": lambda tally: (
            probe_subscription(tally),
            tallying_uow_factory(database, settings, tally),
        ),
        "no pre-ping": lambda tally: (
            probe_subscription(tally),
            tallying_uow_factory(Database(lean_engine), settings, tally),
        ),
        "core, prebuilt": lambda tally: (
            probe_subscription(tally),
            lambda: CoreInboxUnitOfWork(lean_engine, tally),
        ),
        "raw asyncpg": lambda tally: (
            asyncpg_probe_subscription(),
            lambda: AsyncpgInboxUnitOfWork(pool, tally),
        ),
    }


async def measure_consumers(
    env: BenchEnvironment, options: HotPathOptions
) -> dict[str, list[float]]:
    settings = env.billing_settings()
    database = Database.from_settings(settings)
    lean_engine = engine_without_pre_ping(settings)
    pool = await create_asyncpg_pool(settings)
    variants = consumer_variants(settings, database, lean_engine, pool)
    rates: dict[str, list[float]] = {name: [] for name in variants}
    connection = await aio_pika.connect_robust(env.amqp_url)
    try:
        channel = await connection.channel()
        topology = queue_topology(settings, probe_subscription(ProbeTally()))
        await topology.declare(channel, await declare_exchange(channel, env.exchange))
        await channel.close()
        for _ in range(options.repetitions):
            for name, build in variants.items():
                tally = ProbeTally()
                subscription, uow_factory = build(tally)
                await publish_backlog(env, connection, options.events)
                rates[name].append(
                    await consume_backlog(
                        env, connection, settings, subscription, uow_factory, tally, options.events
                    )
                )
                await env.truncate_consumer_tables(database)
    finally:
        await connection.close()
        await pool.close()
        await lean_engine.dispose()
        await database.dispose()
    return rates


async def run(env: BenchEnvironment, options: HotPathOptions) -> dict[str, Any]:
    consumer_rates = await measure_consumers(env, options)
    settings = env.billing_settings()
    return {
        "events": options.events,
        "repetitions": options.repetitions,
        "prefetch": settings.consumer_prefetch,
        "pool": f"{settings.database_pool_size}+{settings.database_max_overflow}",
        "consumer_events_per_s": consumer_rates,
        "consumer_median_events_per_s": {n: median(r) for n, r in consumer_rates.items()},
    }
