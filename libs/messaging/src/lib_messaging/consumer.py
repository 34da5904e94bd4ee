"""The consumer: applies each event once, retries later, and dead-letters what keeps failing.

A handler runs inside a unit of work whose first statement inserts the inbox row
(consumer, event id); the row and the handler's changes commit together, so a redelivered event
finds its row and is acknowledged without running again. A failed handler's message is
re-published to a delay queue (which dead-letters it back after the delay) with its attempt
count; past the delivery limit it goes to the dead-letter queue with its history. Every
re-publish is confirmed by the broker before the original is acknowledged, so nothing is lost
between the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, Self

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from pydantic import ValidationError

from lib_messaging import metrics
from lib_messaging.context import correlation_scope
from lib_messaging.envelope import Envelope, EventPayload, EventRegistry, UnknownEventError
from lib_messaging.envelope import registry as default_registry
from lib_messaging.topology import QueueTopology, declare_exchange

log = structlog.get_logger(__name__)

ATTEMPT_HEADER = "x-attempt"
LAST_ERROR_HEADER = "x-last-error"
FAILED_AT_HEADER = "x-failed-at"
CONSUMER_HEADER = "x-consumer"
_MAX_ERROR_LEN = 1_000


class InboxUnitOfWork(Protocol):
    """What the consumer needs of a unit of work (lib_database provides one)."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def claim_inbox(
        self, consumer: str, events: Sequence[tuple[uuid.UUID, str]]
    ) -> set[uuid.UUID]:
        """Insert the inbox rows; returns the event ids this consumer had not handled before."""
        ...

    async def commit(self) -> None: ...


Handler = Callable[[Any, Envelope, Any], Awaitable[None]]
"""`async def handle(payload, envelope, uow)`: apply one event inside `uow`; do not commit."""

BatchHandler = Callable[[Sequence[tuple[Any, Envelope]], Any], Awaitable[None]]
"""`async def handle(events, uow)`: apply (payload, envelope) pairs, in order, inside `uow`."""


@dataclass(frozen=True)
class Batched:
    """A handler that takes the consecutive events of its type in a consumer's batch in one
    call, so it can apply them in fewer statements. If it raises, the batch is rolled back
    and each event applied alone (a call with one event), as for any handler."""

    handle: BatchHandler


@dataclass
class Subscription:
    """One handler group: one queue, the event types it takes and their handlers."""

    group: str
    handlers: Mapping[tuple[str, int], Handler | Batched]
    batch_size: int | None = None  # events per transaction; None: the worker's setting

    @classmethod
    def of(
        cls,
        group: str,
        handlers: Mapping[type[EventPayload], Handler | Batched],
        *,
        batch_size: int | None = None,
    ) -> Subscription:
        return cls(
            group=group,
            handlers={(m.event_type, m.event_version): h for m, h in handlers.items()},
            batch_size=batch_size,
        )


def header_count(headers: Mapping[str, Any] | None, name: str) -> int:
    """A counter kept in a message header; 0 when absent or not a number."""
    value = (headers or {}).get(name, 0)
    return value if isinstance(value, int) else 0


def copy_with_headers(
    message: AbstractIncomingMessage, headers: dict[str, Any]
) -> aio_pika.Message:
    """A persistent copy of a delivered message with new headers, for re-publishing."""
    return aio_pika.Message(
        body=message.body,
        headers=headers,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        type=message.type,
        app_id=message.app_id,
        correlation_id=message.correlation_id,
        timestamp=message.timestamp,
    )


class PoisonMessageError(Exception):
    """A message that no retry can fix (not an envelope, or an unknown event type)."""


@dataclass(frozen=True)
class Delivery:
    """A decoded message, ready to apply."""

    message: AbstractIncomingMessage
    envelope: Envelope
    payload: Any

    @property
    def attempt(self) -> int:
        return header_count(self.message.headers, ATTEMPT_HEADER)


@dataclass
class Consumer:
    """Applies deliveries in batches: up to `batch_size` events in one transaction, one inbox row
    each. If any handler of a batch fails, the batch is rolled back and each event applied on its
    own, so only the failing one is retried. `concurrency` batches run at once."""

    connection: AbstractRobustConnection
    exchange_name: str
    consumer_name: str  # the inbox key: "<service>.<group>"
    topology: QueueTopology
    subscription: Subscription
    uow_factory: Callable[[], InboxUnitOfWork]
    prefetch: int = 64
    batch_size: int = 16
    concurrency: int = 4
    events: EventRegistry = default_registry
    _channel: AbstractChannel | None = field(default=None, init=False)
    _publish_channel: AbstractChannel | None = field(default=None, init=False)
    _queue: AbstractQueue | None = field(default=None, init=False)
    _tag: str | None = field(default=None, init=False)
    _received: asyncio.Queue[AbstractIncomingMessage | None] = field(
        default_factory=asyncio.Queue, init=False
    )
    _appliers: list[asyncio.Task[None]] = field(default_factory=list, init=False)

    async def start(self) -> None:
        """Declare the topology (idempotently) and start consuming."""
        self._channel = await self.connection.channel(publisher_confirms=False)
        await self._channel.set_qos(prefetch_count=self.prefetch)
        exchange = await declare_exchange(self._channel, self.exchange_name)
        self._queue = await self.topology.declare(self._channel, exchange)
        self._publish_channel = await self.connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self._appliers = [
            asyncio.create_task(self._apply_received(), name=f"applier-{n}")
            for n in range(self.concurrency)
        ]
        self._tag = await self._queue.consume(self._on_message)
        log.info("consumer.started", queue=self.topology.names.main)

    async def stop(self) -> None:
        """Stop taking messages, apply those already received, then close the channels."""
        if self._queue is not None and self._tag is not None:
            with contextlib.suppress(Exception):
                await self._queue.cancel(self._tag)
        for _ in self._appliers:
            self._received.put_nowait(None)  # after everything received so far
        await asyncio.gather(*self._appliers, return_exceptions=True)
        self._appliers = []
        for channel in (self._channel, self._publish_channel):
            if channel is not None and not channel.is_closed:
                with contextlib.suppress(Exception):
                    await channel.close()
        log.info("consumer.stopped", queue=self.topology.names.main)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._received.put_nowait(message)

    async def _apply_received(self) -> None:
        """One applier: takes what has arrived (up to a batch), applies it, until stopped."""
        while True:
            first = await self._received.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.batch_size and not self._received.empty():
                message = self._received.get_nowait()
                if message is None:  # a stop: finish this batch, then leave
                    self._received.put_nowait(None)
                    break
                batch.append(message)
            try:
                await self._process(batch)
            except Exception as exc:  # never lose the applier; the broker redelivers
                log.exception("consumer.batch_crashed", error=repr(exc))

    async def _process(self, messages: list[AbstractIncomingMessage]) -> None:
        deliveries: list[Delivery] = []
        for message in messages:
            try:
                deliveries.append(self._decode(message))
            except PoisonMessageError as exc:
                await self._dead_letter(message, header_count(message.headers, ATTEMPT_HEADER), exc)
        if not deliveries:
            return
        queue = self.topology.names.main
        with metrics.HANDLE_SECONDS.labels(queue=queue).time():
            try:
                applied = await self._apply(deliveries)
            except Exception as exc:
                if len(deliveries) == 1:
                    await self._on_failure(deliveries[0].message, deliveries[0].attempt, exc)
                    return
                # Find the culprit: each event again, in a transaction of its own.
                for delivery in deliveries:
                    await self._process([delivery.message])
                return
        for delivery, was_applied in zip(deliveries, applied, strict=True):
            metrics.EVENTS_HANDLED.labels(
                queue=queue, outcome="applied" if was_applied else "duplicate"
            ).inc()
            await self._settle(delivery.message.ack())

    def _decode(self, message: AbstractIncomingMessage) -> Delivery:
        try:
            envelope = Envelope.model_validate_json(message.body)
            if (envelope.type, envelope.version) not in self.subscription.handlers:
                raise KeyError(f"{envelope.type} v{envelope.version}")
            payload = envelope.payload(self.events)
        except (ValidationError, UnknownEventError, KeyError, ValueError) as exc:
            raise PoisonMessageError(f"undecodable event: {exc!r}") from exc
        return Delivery(message, envelope, payload)

    async def _apply(self, deliveries: list[Delivery]) -> list[bool]:
        return await apply_events(
            self.uow_factory,
            self.consumer_name,
            self.subscription,
            [(d.envelope, d.payload) for d in deliveries],
        )

    async def _on_failure(
        self, message: AbstractIncomingMessage, attempt: int, exc: Exception
    ) -> None:
        event_type = message.type or "unknown"
        metrics.CONSUMER_FAILURES.labels(
            queue=self.topology.names.main, event_type=event_type
        ).inc()
        next_attempt = attempt + 1
        if next_attempt >= self.topology.delivery_limit:
            await self._dead_letter(message, attempt, exc)
            return
        log.warning(
            "consumer.retry_scheduled",
            queue=self.topology.names.main,
            message_id=message.message_id,
            attempt=next_attempt,
            error=repr(exc),
        )
        await self._republish(
            message, self.topology.retry_queue_for(next_attempt), next_attempt, exc
        )

    async def _dead_letter(
        self, message: AbstractIncomingMessage, attempt: int, exc: Exception
    ) -> None:
        queue = self.topology.names.main
        log.error(
            "consumer.dead_lettered",
            queue=queue,
            message_id=message.message_id,
            attempts=attempt + 1,
            error=repr(exc),
        )
        metrics.DEAD_LETTERED.labels(queue=queue).inc()
        await self._republish(message, self.topology.names.dead_letter, attempt + 1, exc)

    async def _republish(
        self, message: AbstractIncomingMessage, queue: str, attempt: int, exc: Exception
    ) -> None:
        """Publish a copy to `queue` (confirmed), then ack the original; on failure, requeue."""
        headers = dict(message.headers or {})
        headers.update(
            {
                ATTEMPT_HEADER: attempt,
                LAST_ERROR_HEADER: repr(exc)[:_MAX_ERROR_LEN],
                FAILED_AT_HEADER: datetime.now(UTC).isoformat(),
                CONSUMER_HEADER: self.consumer_name,
            }
        )
        copy = copy_with_headers(message, headers)
        try:
            assert self._publish_channel is not None
            await self._publish_channel.default_exchange.publish(
                copy, routing_key=queue, mandatory=True, timeout=10
            )
        except Exception as publish_error:
            log.error("consumer.republish_failed", queue=queue, error=repr(publish_error))
            await self._settle(message.nack(requeue=True))
            return
        await self._settle(message.ack())

    async def _settle(self, settle: Awaitable[None]) -> None:
        # After a reconnect the delivery belongs to a dead channel: the broker redelivers it and
        # the inbox makes the second handling a no-op.
        try:
            await settle
        except Exception as exc:
            log.warning("consumer.settle_failed", error=repr(exc))


async def apply_events(
    uow_factory: Callable[[], InboxUnitOfWork],
    consumer_name: str,
    subscription: Subscription,
    events: Sequence[tuple[Envelope, Any]],
) -> list[bool]:
    """Apply decoded events in one transaction with their inbox rows; per event, whether it
    was new (not a duplicate). A run of consecutive new events with the same `Batched`
    handler goes to it in one call. What the consumer does with each batch it receives."""
    applied: list[bool] = []
    async with uow_factory() as uow:
        unseen = await uow.claim_inbox(consumer_name, [(e.id, e.type) for e, _ in events])
        fresh: list[tuple[Envelope, Any, Handler | Batched]] = []
        for envelope, payload in events:
            new = envelope.id in unseen
            unseen.discard(envelope.id)  # a second copy in the same batch is a duplicate
            applied.append(new)
            if new:
                handler = subscription.handlers[(envelope.type, envelope.version)]
                fresh.append((envelope, payload, handler))
        for handler, run in itertools.groupby(fresh, key=lambda event: event[2]):
            if isinstance(handler, Batched):
                await handler.handle([(payload, envelope) for envelope, payload, _ in run], uow)
                continue
            for envelope, payload, _ in run:
                with correlation_scope(envelope.correlation_id, str(envelope.id)):
                    await handler(payload, envelope, uow)
        await uow.commit()
    return applied
