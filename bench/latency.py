"""Benchmark 3: commit-to-handled latency at a steady rate, against a bare broker round trip.

Bus: the writer commits `per_transaction` probes every `interval` (10 per 20 ms = 500 events/s)
on a fixed schedule; each payload carries `sent_at` = `time.monotonic()` taken just before the
commit (so the writer's own commit is inside the figure). billing's consumer records
monotonic now - `sent_at` after its unit of work (inbox row + probe row) has committed.
A one-second warm-up at the same rate is sent first and not measured.

Baseline: raw aio-pika at the same rate and batching, no database: publish with confirms to
the same exchange, into a quorum queue like billing's, consume (prefetch 64), ack, and record
now - the timestamp taken just before the publish.
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from lib_messaging.topology import declare_exchange

from environment import (
    QUEUE_EXPIRES_MS,
    BenchEnvironment,
    latency_summary_ms,
    sample_message_body,
    wait_for,
)
from pipeline import ConsumerKind, Layout, WriterPlan, run_pipeline

TARGET_P99_MS = 50.0
BASELINE_ROUTING_KEY = "bench.latency.baseline"


@dataclass(frozen=True)
class LatencyOptions:
    rate_per_s: int = 500
    per_transaction: int = 10
    duration_s: float = 20.0
    layout: Layout = "processes"
    warmup_s: float = 1.0
    consumer: ConsumerKind = "as-is"

    @property
    def interval_s(self) -> float:
        return self.per_transaction / self.rate_per_s

    def events_in(self, seconds: float) -> int:
        transactions = max(1, round(seconds / self.interval_s))
        return transactions * self.per_transaction


async def measure_bus(env: BenchEnvironment, options: LatencyOptions) -> list[float]:
    plan = WriterPlan(
        events=options.events_in(options.duration_s),
        per_transaction=options.per_transaction,
        interval_s=options.interval_s,
        warmup_events=options.events_in(options.warmup_s),
    )
    result = await run_pipeline(env, plan, layout=options.layout, consumer=options.consumer)
    if result.writer.late_transactions:
        print(f"  note: the writer started {result.writer.late_transactions} transactions late")
    return result.latencies_s


async def measure_baseline(env: BenchEnvironment, options: LatencyOptions) -> list[float]:
    """Raw publish-with-confirm -> consume -> ack at the same schedule; latencies in seconds."""
    padding = sample_message_body()  # the same body size as a bus message
    warmup = options.events_in(options.warmup_s)
    total = warmup + options.events_in(options.duration_s)
    latencies: list[float] = []
    received = 0

    async def on_message(message: AbstractIncomingMessage) -> None:
        nonlocal received
        (sent_at,) = struct.unpack_from("!d", message.body)
        if sent_at:
            latencies.append(time.monotonic() - sent_at)
        received += 1
        await message.ack()

    publisher = await aio_pika.connect(env.amqp_url)
    consumer = await aio_pika.connect(env.amqp_url)
    try:
        publish_channel = await publisher.channel(publisher_confirms=True)
        exchange = await declare_exchange(publish_channel, env.exchange)
        consume_channel = await consumer.channel()
        await consume_channel.set_qos(prefetch_count=64)
        queue = await consume_channel.declare_queue(
            env.queue_name("latency-baseline"),
            durable=True,
            arguments={"x-queue-type": "quorum", "x-expires": QUEUE_EXPIRES_MS},
        )
        await queue.bind(env.exchange, routing_key=BASELINE_ROUTING_KEY)
        await queue.consume(on_message)

        started = time.monotonic()
        for index, first in enumerate(range(0, total, options.per_transaction)):
            delay = started + index * options.interval_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent_at = time.monotonic() if first >= warmup else 0.0
            body = struct.pack("!d", sent_at) + padding[8:]
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(body=body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=BASELINE_ROUTING_KEY,
                    )
                    for _ in range(min(options.per_transaction, total - first))
                )
            )
        await wait_for(lambda: received >= total, timeout_s=60, what="baseline consumed")
    finally:
        await consumer.close()
        await publisher.close()
    return latencies


async def run(env: BenchEnvironment, options: LatencyOptions) -> dict[str, Any]:
    baseline = latency_summary_ms(await measure_baseline(env, options))
    bus = latency_summary_ms(await measure_bus(env, options))
    return {
        "rate_per_s": options.rate_per_s,
        "per_transaction": options.per_transaction,
        "interval_ms": options.interval_s * 1000,
        "duration_s": options.duration_s,
        "layout": options.layout,
        "consumer": options.consumer,
        "timestamp": "time.monotonic() in the payload just before the writer's commit",
        "bus": bus,
        "baseline": baseline,
        "target_p99_ms": TARGET_P99_MS,
        "target_met": bus["p99_ms"] < TARGET_P99_MS,
    }
