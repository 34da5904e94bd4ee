"""A handler that always fails: retried with delays, then dead-lettered with its history;
other events keep flowing, and a replay applies it once the handler is fixed."""

from __future__ import annotations

import aio_pika

from lib_messaging.broker import connect_broker
from lib_messaging.consumer import ATTEMPT_HEADER, LAST_ERROR_HEADER, Batched, Subscription
from lib_messaging.relay import OutboxRelay
from lib_messaging.replay import dead_letter_depth, replay_dead_letters
from lib_messaging.worker import relay_config

from .conftest import (
    ProbeRecorded,
    emit_probes,
    probe_counts,
    probe_subscription,
    record_probe,
    start_worker,
    wait_until,
)


async def test_failing_handler_dead_letters_then_replay_applies_once(
    producer_settings, consumer_settings, producer_db, consumer_db, workers, amqp_url
) -> None:
    broken = {"fixed": False}

    async def handle(payload, envelope, uow) -> None:
        if payload.fail and not broken["fixed"]:
            raise RuntimeError(f"cannot handle probe {payload.seq}")
        await record_probe("billing.poison", payload, envelope, uow)

    consumer = await start_worker(
        workers, consumer_settings, consumer_db, probe_subscription("poison", handle)
    )
    names = consumer.consumers[0].topology.names
    await start_worker(workers, producer_settings, producer_db)

    await emit_probes(producer_db, producer_settings, [0], fail=True)
    await emit_probes(producer_db, producer_settings, range(1, 21))

    connection = await aio_pika.connect(amqp_url)
    async with connection:

        async def poison_dead_lettered() -> bool:
            return await dead_letter_depth(connection, names) == 1

        await wait_until(poison_dead_lettered, within_s=30, what="the failing event in the DLQ")
        # The 20 good events were not held up by the failing one.
        assert await probe_counts(consumer_db, "billing.poison") == (20, 1)

        channel = await connection.channel()
        dlq = await channel.get_queue(names.dead_letter)
        dead = await dlq.get(no_ack=False)
        headers = dead.headers or {}
        assert headers[ATTEMPT_HEADER] == consumer_settings.consumer_delivery_limit
        assert "cannot handle probe 0" in str(headers[LAST_ERROR_HEADER])
        deaths = headers["x-death"]
        assert {d["queue"] for d in deaths} == {names.retry(200), names.retry(500)}
        assert sum(d["count"] for d in deaths) == consumer_settings.consumer_delivery_limit - 1
        await dead.nack(requeue=True)
        await channel.close()

        broken["fixed"] = True
        assert await replay_dead_letters(connection, names) == 1

        async def replayed() -> bool:
            return (await probe_counts(consumer_db, "billing.poison"))[0] == 21

        await wait_until(replayed, within_s=30, what="the replayed event applied")
        assert await probe_counts(consumer_db, "billing.poison") == (21, 1)
        assert await dead_letter_depth(connection, names) == 0


async def test_undecodable_message_goes_straight_to_the_dead_letter_queue(
    consumer_settings, consumer_db, workers, amqp_url
) -> None:
    consumer = await start_worker(
        workers, consumer_settings, consumer_db, probe_subscription("garbage")
    )
    names = consumer.consumers[0].topology.names
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(
            aio_pika.Message(b"not an envelope"), routing_key=names.main
        )

        async def dead_lettered() -> bool:
            return await dead_letter_depth(connection, names) == 1

        await wait_until(dead_lettered, within_s=10, what="the undecodable message in the DLQ")
        dead = await (await channel.get_queue(names.dead_letter)).get(no_ack=True)
        assert dead.body == b"not an envelope"
        assert "undecodable" in str((dead.headers or {})[LAST_ERROR_HEADER])


async def test_one_failing_event_does_not_hold_back_its_batch(
    producer_settings, consumer_settings, producer_db, consumer_db, workers
) -> None:
    calls = {"good": 0}

    async def handle(payload, envelope, uow) -> None:
        if payload.fail:
            raise RuntimeError("this one is broken")
        calls["good"] += 1
        await record_probe("billing.batch", payload, envelope, uow)

    await apply_ten_with_one_broken(
        workers,
        probe_subscription("batch", handle),
        (producer_settings, producer_db),
        (consumer_settings, consumer_db),
    )

    assert await probe_counts(consumer_db, "billing.batch") == (9, 1)
    # They arrived together: the batch ran (and rolled back) before each event ran alone.
    assert calls["good"] > 9


async def test_a_batched_handler_takes_the_events_of_a_batch_in_one_call_and_falls_back(
    producer_settings, consumer_settings, producer_db, consumer_db, workers
) -> None:
    calls: list[list[int]] = []

    async def handle_many(events, uow) -> None:
        calls.append([payload.seq for payload, _ in events])
        if any(payload.fail for payload, _ in events):
            raise RuntimeError("one of these is broken")
        for payload, envelope in events:
            await record_probe("billing.batched", payload, envelope, uow)

    await apply_ten_with_one_broken(
        workers,
        Subscription.of("batched", {ProbeRecorded: Batched(handle_many)}, batch_size=4),
        (producer_settings, producer_db),
        (consumer_settings, consumer_db),
    )

    assert await probe_counts(consumer_db, "billing.batched") == (9, 1)
    # The events that arrived together went to the handler in calls of several; the batch with
    # the broken one was rolled back, then each of its events was applied in a call of its own.
    # The subscription's own batch size bounds each call (the worker's setting is 16).
    assert any(len(seqs) > 1 for seqs in calls)
    assert all(len(seqs) <= 4 for seqs in calls), calls
    assert [4] in calls


async def apply_ten_with_one_broken(workers, subscription, producer, consumer) -> None:
    """Ten events, the fifth one broken, pile up in the subscription's queue while nobody
    consumes (so they arrive together), then a worker applies them; returns once the nine
    good ones are in."""
    (producer_settings, producer_db), (consumer_settings, consumer_db) = producer, consumer
    first = await start_worker(workers, consumer_settings, consumer_db, subscription)
    await first.stop()  # the queues are declared
    workers.remove(first)
    await emit_probes(producer_db, producer_settings, range(4))
    await emit_probes(producer_db, producer_settings, [4], fail=True)
    await emit_probes(producer_db, producer_settings, range(5, 10))
    connection = await connect_broker(amqp_url_of(producer_settings), name="relay")
    async with connection:
        relay = OutboxRelay(producer_db.engine, connection, relay_config(producer_settings))
        assert await relay.publish_batch() == 10

    await start_worker(workers, consumer_settings, consumer_db, subscription)
    consumer_name = f"billing.{subscription.group}"

    async def good_ones_applied() -> bool:
        return (await probe_counts(consumer_db, consumer_name))[0] == 9

    await wait_until(good_ones_applied, within_s=30, what="the nine good events")


def amqp_url_of(settings) -> str:
    return str(settings.amqp_url.get_secret_value())
