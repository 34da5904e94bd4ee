"""The outbox relay: publishes committed events to the broker, at least once, in commit order.

Each round claims a batch of unpublished rows with `FOR UPDATE SKIP LOCKED` (so several relays
share the work without publishing a row twice at the same time), publishes them with publisher
confirms and `mandatory` routing, and in the same transaction marks the confirmed ones
published and gives the refused or unroutable ones a backoff and their `last_error`. A relay
that dies before its transaction commits leaves the rows unpublished: they are published again
and the consumers' inbox drops the duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import structlog
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aio_pika.exceptions import DeliveryError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lib_messaging import metrics
from lib_messaging.tables import notify_channel
from lib_messaging.topology import declare_exchange

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RelayConfig:
    schema: str
    exchange: str
    batch_size: int = 200
    lanes: int = 2
    poll_interval_s: float = 1.0
    retention: timedelta = timedelta(hours=72)
    # Inbox rows guard against redeliveries, which come within minutes; keep them far longer.
    inbox_retention: timedelta = timedelta(days=30)
    prune_every_s: float = 300.0
    publish_timeout_s: float = 10.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0


@dataclass(frozen=True)
class ClaimedEvent:
    id: Any
    routing_key: str
    event_type: str
    envelope: dict[str, Any]
    attempts: int


class PublishRefusedError(Exception):
    """The broker nacked the message or returned it as unroutable."""


def to_amqp_message(envelope: dict[str, Any]) -> aio_pika.Message:
    """The envelope as the body, and its ids in the AMQP properties too (DESIGN.md)."""
    return aio_pika.Message(
        body=json.dumps(envelope, separators=(",", ":")).encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=envelope["id"],
        type=envelope["type"],
        app_id=envelope["source"],
        correlation_id=envelope["correlationId"],
        timestamp=datetime.fromisoformat(envelope["occurredAt"]),
        headers={"x-event-version": envelope["version"]},
    )


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        connection: AbstractRobustConnection,
        config: RelayConfig,
        *,
        listen_dsn: str | None = None,
    ) -> None:
        self._engine = engine
        self._connection = connection
        self._config = config
        self._listen_dsn = listen_dsn
        self._wakes: list[asyncio.Event] = []
        self._channel_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._listener: asyncpg.Connection | None = None
        # The loop's clock counts from boot, so 0.0 would skip pruning on a fresh machine.
        self._last_prune = float("-inf")
        t = config.schema
        self._claim_sql = text(
            f'SELECT id, routing_key, event_type, envelope, attempts FROM "{t}".outbox '
            "WHERE published_at IS NULL AND next_attempt_at <= now() "
            "ORDER BY position LIMIT :limit FOR UPDATE SKIP LOCKED"
        )
        self._mark_sql = text(
            f'UPDATE "{t}".outbox SET published_at = now(), last_error = NULL WHERE id = ANY(:ids)'
        )
        self._fail_sql = text(
            f'UPDATE "{t}".outbox SET attempts = attempts + 1, last_error = :error, '
            "next_attempt_at = now() + make_interval(secs => :delay) WHERE id = :id"
        )
        self._prune_inbox_sql = text(
            f'DELETE FROM "{t}".inbox WHERE handled_at < now() - make_interval(secs => :age)'
        )
        self._prune_sql = text(
            f'DELETE FROM "{t}".outbox WHERE published_at IS NOT NULL '
            "AND published_at < now() - make_interval(secs => :age)"
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Publish until `stop()`; the batches in flight are finished before returning."""
        log.info("relay.started", schema=self._config.schema, lanes=self._config.lanes)
        try:
            await asyncio.gather(*(self._lane(n) for n in range(self._config.lanes)))
        finally:
            await self._close_listener()
            await self._reset_channel()
            log.info("relay.stopped", schema=self._config.schema)

    async def _lane(self, number: int) -> None:
        """One claim-publish-settle loop. Lanes overlap one batch's confirms with the next
        batch's claim; SKIP LOCKED keeps their batches apart."""
        wake = asyncio.Event()
        self._wakes.append(wake)
        leader = number == 0  # the housekeeping (LISTEN, pruning) is done by one lane
        while not self._stopping.is_set():
            if leader:
                await self._ensure_listener()
            try:
                published = await self.publish_batch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: wait and try again
                log.warning("relay.round_failed", lane=number, error=repr(exc))
                await self._reset_channel()
                await self._sleep(wake, self._config.poll_interval_s)
                continue
            if leader:
                await self._maybe_prune()
            if published < self._config.batch_size:
                await self._sleep(wake, self._config.poll_interval_s)

    def stop(self) -> None:
        self._stopping.set()
        self._notified()

    async def _sleep(self, wake: asyncio.Event, seconds: float) -> None:
        """Until woken by a NOTIFY, stopped, or the polling interval passes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=seconds)
        wake.clear()

    # -- one round ---------------------------------------------------------------------------

    async def publish_batch(self) -> int:
        """Claim, publish and settle one batch; returns how many events were published."""
        exchange = await self._ensure_exchange()
        async with self._engine.connect() as conn, conn.begin():
            rows = (await conn.execute(self._claim_sql, {"limit": self._config.batch_size})).all()
            if not rows:
                return 0
            claimed = [ClaimedEvent(*row) for row in rows]
            # One deadline for the batch: a broker that stops confirming fails it as a whole.
            async with asyncio.timeout(self._config.publish_timeout_s):
                outcomes = await asyncio.gather(
                    *(self._publish_one(exchange, event) for event in claimed),
                    return_exceptions=True,
                )
            refused = [
                (event, outcome)
                for event, outcome in zip(claimed, outcomes, strict=True)
                if isinstance(outcome, BaseException)
            ]
            if refused and not all(isinstance(e, PublishRefusedError) for _, e in refused):
                # A connection-level failure: nothing is marked, the whole batch is retried.
                raise next(e for _, e in refused if not isinstance(e, PublishRefusedError))
            published_ids = [e.id for e, o in zip(claimed, outcomes, strict=True) if o is None]
            await self._settle(conn, published_ids, refused)
        metrics.OUTBOX_PUBLISHED.inc(len(published_ids))
        return len(published_ids)

    async def _publish_one(self, exchange: AbstractExchange, event: ClaimedEvent) -> None:
        try:
            await exchange.publish(
                to_amqp_message(event.envelope),
                routing_key=event.routing_key,
                mandatory=True,
            )
        except DeliveryError as exc:
            returned = exc.message is not None
            reason = "unroutable" if returned else "nacked"
            metrics.OUTBOX_PUBLISH_FAILURES.labels(reason=reason).inc()
            raise PublishRefusedError(
                f"{reason}: {event.routing_key} on exchange {exchange.name!r}"
            ) from exc

    async def _settle(
        self,
        conn: AsyncConnection,
        published_ids: list[Any],
        refused: list[tuple[ClaimedEvent, BaseException]],
    ) -> None:
        if published_ids:
            await conn.execute(self._mark_sql, {"ids": published_ids})
        for event, error in refused:
            delay = self._backoff(event.attempts)
            log.warning(
                "relay.publish_refused", event_id=str(event.id), error=str(error), retry_in=delay
            )
            await conn.execute(
                self._fail_sql, {"id": event.id, "error": str(error), "delay": delay}
            )

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self._config.backoff_cap_s, self._config.backoff_base_s * 2.0**attempts)
        return ceiling * random.uniform(0.5, 1.0)  # jitter, so failures do not retry in step

    async def _maybe_prune(self) -> None:
        """Delete published outbox rows and old inbox rows past their retention, now and then."""
        now = asyncio.get_running_loop().time()
        if now - self._last_prune < self._config.prune_every_s:
            return
        self._last_prune = now
        async with self._engine.begin() as conn:
            outbox = await conn.execute(
                self._prune_sql, {"age": self._config.retention.total_seconds()}
            )
            inbox = await conn.execute(
                self._prune_inbox_sql, {"age": self._config.inbox_retention.total_seconds()}
            )
        if outbox.rowcount or inbox.rowcount:
            log.info("relay.pruned", outbox_rows=outbox.rowcount, inbox_rows=inbox.rowcount)

    # -- broker ------------------------------------------------------------------------------

    async def _ensure_exchange(self) -> AbstractExchange:
        async with self._channel_lock:  # lanes share one channel; open it once
            if self._channel is None or self._channel.is_closed or self._exchange is None:
                await self._reset_channel()
                # Confirms on; a returned (unroutable) message fails its publish.
                self._channel = await self._connection.channel(
                    publisher_confirms=True, on_return_raises=True
                )
                self._exchange = await declare_exchange(self._channel, self._config.exchange)
            return self._exchange

    async def _reset_channel(self) -> None:
        channel, self._channel, self._exchange = self._channel, None, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await channel.close()

    # -- wake-up on commit -------------------------------------------------------------------

    async def _ensure_listener(self) -> None:
        """LISTEN for the outbox trigger; if that fails, polling alone still drains."""
        if self._listen_dsn is None:
            return
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(self._listen_dsn, timeout=5)
            await self._listener.add_listener(notify_channel(self._config.schema), self._notified)
        except Exception as exc:
            log.warning("relay.listen_failed", error=repr(exc))
            await self._close_listener()

    def _notified(self, *_: object) -> None:
        for wake in self._wakes:
            wake.set()

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            with contextlib.suppress(Exception):
                await listener.close(timeout=2)


async def refresh_outbox_gauges(engine: AsyncEngine, schema: str) -> None:
    """Set the backlog and oldest-age gauges from the table (called on each /metrics scrape)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
                    f'FROM "{schema}".outbox WHERE published_at IS NULL'
                )
            )
        ).one()
    metrics.OUTBOX_BACKLOG.set(row[0])
    metrics.OUTBOX_OLDEST_AGE.set(float(row[1]))
