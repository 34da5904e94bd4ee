"""A publish that no queue can route is returned by the broker and stays unpublished."""

from __future__ import annotations

from sqlalchemy import text

from lib_messaging.broker import connect_broker
from lib_messaging.relay import OutboxRelay
from lib_messaging.worker import relay_config

from .conftest import ProbeUnrouted, emit_probes, unpublished


async def test_unroutable_event_is_not_marked_published(producer_settings, producer_db) -> None:
    await emit_probes(producer_db, producer_settings, [1], model=ProbeUnrouted)
    connection = await connect_broker(producer_settings.amqp_url.get_secret_value(), name="relay")
    async with connection:
        relay = OutboxRelay(producer_db.engine, connection, relay_config(producer_settings))
        assert await relay.publish_batch() == 0
    assert await unpublished(producer_db, "identity") == 1
    async with producer_db.engine.connect() as conn:
        attempts, error, retry_later = (
            await conn.execute(
                text(
                    "SELECT attempts, last_error, next_attempt_at > now() FROM outbox "
                    "WHERE event_type = :t"
                ),
                {"t": ProbeUnrouted.event_type},
            )
        ).one()
    assert attempts == 1
    assert "unroutable" in error
    assert retry_later  # backed off, not retried in a hot loop
