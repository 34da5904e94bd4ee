"""A service's worker process: its outbox relay and its consumers, stopped gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Sequence
from datetime import timedelta

import structlog
from aio_pika.abc import AbstractRobustConnection
from sqlalchemy.ext.asyncio import AsyncEngine

from lib_messaging.broker import connect_broker
from lib_messaging.consumer import Consumer, InboxUnitOfWork, Subscription
from lib_messaging.relay import OutboxRelay, RelayConfig
from lib_messaging.topology import QueueTopology, queue_names
from lib_settings import ServiceSettings

log = structlog.get_logger(__name__)


def relay_config(settings: ServiceSettings) -> RelayConfig:
    return RelayConfig(
        schema=settings.db_schema,
        exchange=settings.events_exchange,
        batch_size=settings.outbox_batch_size,
        lanes=settings.outbox_relay_lanes,
        poll_interval_s=settings.outbox_poll_interval_s,
        retention=timedelta(hours=settings.outbox_retention_hours),
        inbox_retention=timedelta(days=settings.inbox_retention_days),
    )


def queue_topology(settings: ServiceSettings, subscription: Subscription) -> QueueTopology:
    return QueueTopology(
        names=queue_names(settings.queue_prefix, settings.service_name, subscription.group),
        event_types=sorted(subscription.handlers),
        retry_delays_ms=settings.consumer_retry_delays_ms,
        delivery_limit=settings.consumer_delivery_limit,
        expires_ms=settings.queue_expires_ms,
    )


def listen_dsn(engine: AsyncEngine) -> str:
    """The plain libpq URL of the engine, for the relay's LISTEN connection."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class EventWorker:
    """Runs the relay and one consumer per subscription over one broker connection."""

    def __init__(
        self,
        settings: ServiceSettings,
        engine: AsyncEngine,
        subscriptions: Sequence[Subscription],
        uow_factory: Callable[[], InboxUnitOfWork],
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.subscriptions = subscriptions
        self.uow_factory = uow_factory
        self.connection: AbstractRobustConnection | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[Consumer] = []
        self._relay_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        s = self.settings
        self.connection = await connect_broker(
            s.amqp_url.get_secret_value(), name=f"{s.service_name}-worker"
        )
        self.relay = OutboxRelay(
            self.engine, self.connection, relay_config(s), listen_dsn=listen_dsn(self.engine)
        )
        self._relay_task = asyncio.create_task(self.relay.run(), name="outbox-relay")
        for subscription in self.subscriptions:
            batch_size = subscription.batch_size or s.consumer_batch_size
            consumer = Consumer(
                connection=self.connection,
                exchange_name=s.events_exchange,
                consumer_name=f"{s.service_name}.{subscription.group}",
                topology=queue_topology(s, subscription),
                subscription=subscription,
                uow_factory=self.uow_factory,
                # Enough deliveries in hand for every applier to fill its batch.
                prefetch=max(s.consumer_prefetch, batch_size * s.consumer_concurrency),
                batch_size=batch_size,
                concurrency=s.consumer_concurrency,
            )
            await consumer.start()
            self.consumers.append(consumer)
        log.info("worker.started", service=s.service_name, consumers=len(self.consumers))

    async def stop(self) -> None:
        """Consumers finish their in-flight messages, the relay its batch, then we disconnect."""
        await asyncio.gather(*(c.stop() for c in self.consumers), return_exceptions=True)
        self.consumers.clear()
        if self.relay is not None:
            self.relay.stop()
        if self._relay_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay_task
        if self.connection is not None:
            await self.connection.close()
        log.info("worker.stopped", service=self.settings.service_name)

    async def run_until_signalled(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
