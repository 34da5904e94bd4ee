"""Benchmark 1: how fast `OutboxRelay` drains a backlog, against raw aio-pika publishing.

The outbox of identity is pre-filled through the unit of work (not timed); the relay then runs
`publish_batch()` until it returns 0 (claim with SKIP LOCKED, publish with confirms, mark
published, commit). The baseline publishes the same number of messages of the same body size
to the same exchange and queue, persistent, mandatory, with confirms, as a gather of one batch
of the relay's batch size at a time. Baseline and relay alternate within each repetition.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aio_pika
from lib_database import Database
from lib_messaging.broker import connect_broker
from lib_messaging.relay import OutboxRelay
from lib_messaging.topology import declare_exchange
from lib_messaging.worker import relay_config

from environment import (
    QUEUE_EXPIRES_MS,
    BenchEnvironment,
    fill_outbox,
    median,
    probe_routing_key,
    sample_message_body,
)

TARGET_RATIO = 0.70


@dataclass(frozen=True)
class RelayDrainOptions:
    events: int = 20_000
    repetitions: int = 3
    fill_per_transaction: int = 500


async def publish_raw_batches(
    exchange: aio_pika.abc.AbstractExchange, body: bytes, count: int, batch_size: int
) -> float:
    """Publish `count` confirmed messages, `batch_size` in flight at a time; seconds taken."""
    routing_key = probe_routing_key()
    started = time.perf_counter()
    for start in range(0, count, batch_size):
        in_batch = min(batch_size, count - start)
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(
                        body=body,
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=routing_key,
                )
                for _ in range(in_batch)
            )
        )
    return time.perf_counter() - started


async def drain_with_relay(relay: OutboxRelay) -> tuple[int, float]:
    """Run the relay's rounds until the outbox is empty; (events published, seconds taken)."""
    published = 0
    started = time.perf_counter()
    while batch := await relay.publish_batch():
        published += batch
    return published, time.perf_counter() - started


async def run(env: BenchEnvironment, options: RelayDrainOptions) -> dict[str, Any]:
    settings = env.identity_settings()
    config = relay_config(settings)
    database = Database.from_settings(settings)
    relay_connection = await connect_broker(env.amqp_url, name="bench-relay")
    raw_connection = await aio_pika.connect(env.amqp_url)
    try:
        raw_channel = await raw_connection.channel(publisher_confirms=True)
        exchange = await declare_exchange(raw_channel, env.exchange)
        queue = await raw_channel.declare_queue(
            env.queue_name("relay-drain"),
            durable=True,
            arguments={"x-queue-type": "classic", "x-expires": QUEUE_EXPIRES_MS},
        )
        await queue.bind(exchange, routing_key=probe_routing_key())
        body = sample_message_body()

        relay_rates: list[float] = []
        baseline_rates: list[float] = []
        for _ in range(options.repetitions):
            await queue.purge()
            seconds = await publish_raw_batches(exchange, body, options.events, config.batch_size)
            baseline_rates.append(options.events / seconds)

            await queue.purge()
            await env.truncate_outbox(database)
            await fill_outbox(
                database, settings, options.events, per_transaction=options.fill_per_transaction
            )
            relay = OutboxRelay(database.engine, relay_connection, config)
            published, seconds = await drain_with_relay(relay)
            if published != options.events:
                raise RuntimeError(f"relay published {published} of {options.events} events")
            relay_rates.append(published / seconds)
        # Unbound from now on: the later benchmarks' events must reach billing's queue only.
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await raw_connection.close()
        await relay_connection.close()
        await env.truncate_outbox(database)
        await database.dispose()

    relay_median = median(relay_rates)
    baseline_median = median(baseline_rates)
    ratio = relay_median / baseline_median
    return {
        "events": options.events,
        "batch_size": config.batch_size,
        "message_bytes": len(body),
        "relay_events_per_s": relay_rates,
        "baseline_messages_per_s": baseline_rates,
        "relay_median_events_per_s": relay_median,
        "baseline_median_messages_per_s": baseline_median,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "target_met": ratio >= TARGET_RATIO,
    }
