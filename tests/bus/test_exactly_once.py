"""Every committed event is published and applied exactly once, even across a relay crash."""

from __future__ import annotations

import pytest

from lib_database import Database
from lib_messaging import metrics
from lib_messaging.broker import connect_broker
from lib_messaging.relay import OutboxRelay
from lib_messaging.worker import relay_config

from .conftest import (
    emit_probes,
    probe_counts,
    probe_subscription,
    start_worker,
    unpublished,
    wait_until,
)


async def test_ten_thousand_events_are_each_applied_exactly_once(
    producer_settings, consumer_settings, producer_db, consumer_db, workers
) -> None:
    await start_worker(workers, consumer_settings, consumer_db, probe_subscription("bulk"))
    await start_worker(workers, producer_settings, producer_db)

    await emit_probes(producer_db, producer_settings, range(10_000), per_tx=250)

    async def all_applied() -> bool:
        return (await probe_counts(consumer_db, "billing.bulk"))[0] >= 10_000

    await wait_until(all_applied, within_s=180, what="10,000 events applied")
    applied, most = await probe_counts(consumer_db, "billing.bulk")
    assert (applied, most) == (10_000, 1)
    assert await unpublished(producer_db, "identity") == 0


class RelayCrash(Exception):
    pass


async def test_relay_dying_before_marking_published_redelivers_and_applies_once(
    producer_settings, consumer_settings, producer_db: Database, consumer_db, workers, monkeypatch
) -> None:
    consumer = await start_worker(
        workers, consumer_settings, consumer_db, probe_subscription("crash")
    )
    await emit_probes(producer_db, producer_settings, range(50))

    connection = await connect_broker(
        producer_settings.amqp_url.get_secret_value(), name="crashing-relay"
    )
    async with connection:
        relay = OutboxRelay(producer_db.engine, connection, relay_config(producer_settings))

        async def crash(*_: object) -> None:
            raise RelayCrash("killed after publishing, before marking published")

        monkeypatch.setattr(relay, "_settle", crash)
        with pytest.raises(RelayCrash):
            await relay.publish_batch()
        assert await unpublished(producer_db, "identity") == 50  # the crash rolled the marks back

        duplicates_before = metrics.EVENTS_HANDLED.labels(
            queue=consumer.consumers[0].topology.names.main, outcome="duplicate"
        )._value.get()
        monkeypatch.undo()
        assert await relay.publish_batch() == 50
    assert await unpublished(producer_db, "identity") == 0

    async def both_copies_handled() -> bool:
        duplicates = metrics.EVENTS_HANDLED.labels(
            queue=consumer.consumers[0].topology.names.main, outcome="duplicate"
        )._value.get()
        return (
            duplicates - duplicates_before >= 50
            and (await probe_counts(consumer_db, "billing.crash"))[0] == 50
        )

    await wait_until(both_copies_handled, within_s=30, what="both copies of 50 events handled")
    assert await probe_counts(consumer_db, "billing.crash") == (50, 1)
