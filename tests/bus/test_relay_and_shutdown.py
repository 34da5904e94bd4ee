"""The relay wakes on NOTIFY rather than waiting for its poll, prunes old published rows, and
a stopping worker finishes the messages it is handling before it lets go of them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import aio_pika
from sqlalchemy import text

from lib_messaging.broker import connect_broker
from lib_messaging.relay import OutboxRelay
from lib_messaging.worker import listen_dsn, relay_config

from .conftest import (
    emit_probes,
    probe_counts,
    probe_subscription,
    record_probe,
    start_worker,
    unpublished,
    wait_until,
)


async def test_relay_wakes_on_notify_long_before_its_poll(
    service_settings, migrated, producer_db, consumer_settings, consumer_db, workers
) -> None:
    from identity.config import IdentitySettings

    await start_worker(workers, consumer_settings, consumer_db, probe_subscription("notify"))
    slow_poll = service_settings(IdentitySettings, outbox_poll_interval_s=60.0)
    await start_worker(workers, slow_poll, producer_db)
    await asyncio.sleep(0.5)  # the relay has drained nothing and is now asleep for 60 s

    started = time.monotonic()
    await emit_probes(producer_db, slow_poll, [1])

    async def applied() -> bool:
        return (await probe_counts(consumer_db, "billing.notify"))[0] == 1

    await wait_until(applied, within_s=10, what="the event, woken by NOTIFY")
    assert time.monotonic() - started < 10


async def test_relay_prunes_published_rows_past_retention(producer_settings, producer_db) -> None:
    async with producer_db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM inbox"))
        await conn.execute(
            text(
                "INSERT INTO inbox (consumer, event_id, event_type, handled_at) VALUES "
                "('old', gen_random_uuid(), 't', now() - interval '40 days'), "
                "('new', gen_random_uuid(), 't', now() - interval '1 day')"
            )
        )
    await emit_probes(producer_db, producer_settings, range(3))
    async with producer_db.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE outbox SET published_at = now() - interval '10 days' "
                "WHERE subject = 'probe-0'"
            )
        )
        await conn.execute(text("UPDATE outbox SET published_at = now() WHERE subject = 'probe-1'"))
    connection = await connect_broker(producer_settings.amqp_url.get_secret_value(), name="pruner")
    async with connection:
        relay = OutboxRelay(
            producer_db.engine,
            connection,
            relay_config(producer_settings),
            listen_dsn=listen_dsn(producer_db.engine),
        )
        await relay._maybe_prune()
    async with producer_db.engine.connect() as conn:
        left = (await conn.execute(text("SELECT subject FROM outbox ORDER BY subject"))).scalars()
        assert list(left) == ["probe-1", "probe-2"]  # old published gone; recent and pending kept
        inbox = (await conn.execute(text("SELECT consumer FROM inbox"))).scalars()
        assert list(inbox) == ["new"]
    assert await unpublished(producer_db, "identity") == 1


async def test_stopping_worker_finishes_in_flight_messages(
    producer_settings, consumer_settings, producer_db, consumer_db, workers, amqp_url
) -> None:
    handling = asyncio.Event()

    async def slow(payload, envelope, uow) -> None:
        handling.set()
        await asyncio.sleep(1.0)
        await record_probe("billing.graceful", payload, envelope, uow)

    consumer = await start_worker(
        workers, consumer_settings, consumer_db, probe_subscription("graceful", slow)
    )
    names = consumer.consumers[0].topology.names
    await start_worker(workers, producer_settings, producer_db)

    await emit_probes(producer_db, producer_settings, range(5))
    await asyncio.wait_for(handling.wait(), 10)
    await consumer.stop()  # while five handlers are sleeping

    assert await probe_counts(consumer_db, "billing.graceful") == (5, 1)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(names.main, passive=True)
        assert queue.declaration_result.message_count == 0  # all acknowledged, none requeued


async def test_two_relays_share_a_backlog_without_publishing_twice(
    producer_settings, producer_db, amqp_url
) -> None:
    await emit_probes(producer_db, producer_settings, range(2_000), per_tx=500)
    connection = await connect_broker(amqp_url, name="two-relays")
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            producer_settings.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        tap = await channel.declare_queue(exclusive=True)
        await tap.bind(exchange, routing_key="test.probe.recorded.v1")
        small_batches = relay_config(producer_settings)
        relays = [
            OutboxRelay(producer_db.engine, connection, replace(small_batches, batch_size=50))
            for _ in range(2)
        ]

        async def drain(relay: OutboxRelay) -> int:
            total = 0
            while published := await relay.publish_batch():
                total += published
            return total

        shares = await asyncio.gather(*(drain(relay) for relay in relays))
        assert sum(shares) == 2_000 and all(shares)  # both relays did part of the work
        assert await unpublished(producer_db, "identity") == 0

        seen: list[str] = []
        while (message := await tap.get(no_ack=True, fail=False)) is not None:
            seen.append(str(message.message_id))
        assert len(seen) == 2_000
        assert len(set(seen)) == 2_000  # no event was published twice
