"""Evict revoked API keys from this process's ApiKeyClient cache as soon as identity says so.

Every API process that verifies API keys holds its own cache, so every process needs every
`identity.apikey.revoked`: each listens on an exclusive, auto-deleted queue of its own (a
broadcast), not on the service's shared work queue. Eviction is idempotent, so there is no
inbox and nothing to retry. While the broker connection is down an event can be missed: the
whole cache is dropped when the connection comes back, and until then a cached answer lives
at most the client's `cache_ttl_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pydantic import ValidationError

from lib_auth import ApiKeyClient
from lib_contracts.identity import ApiKeyRevoked
from lib_messaging.broker import connect_broker
from lib_messaging.envelope import Envelope
from lib_messaging.topology import declare_exchange
from lib_settings import ServiceSettings

log = structlog.get_logger(__name__)


class ApiKeyRevocationListener:
    def __init__(
        self, client: ApiKeyClient, *, amqp_url: str, exchange: str, queue_name: str
    ) -> None:
        self.client = client
        self.queue_name = queue_name
        self._amqp_url = amqp_url
        self._exchange = exchange
        self._connection: AbstractRobustConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    @classmethod
    def from_settings(
        cls, settings: ServiceSettings, client: ApiKeyClient
    ) -> ApiKeyRevocationListener:
        return cls(
            client,
            amqp_url=settings.amqp_url.get_secret_value(),
            exchange=settings.events_exchange,
            # One queue per process: its own copy of every revocation.
            queue_name=(
                f"{settings.queue_prefix}{settings.service_name}"
                f".apikey-revocations.{uuid.uuid4().hex[:12]}"
            ),
        )

    def start(self) -> None:
        """Connect and listen in the background (the app serves meanwhile)."""
        self._task = asyncio.create_task(self._listen(), name="apikey-revocations")

    async def _listen(self) -> None:
        while self._connection is None:
            try:
                self._connection = await connect_broker(self._amqp_url, name=self.queue_name)
            except Exception as exc:  # keep trying; cached answers still expire meanwhile
                log.warning("apikey_revocations.connect_failed", error=repr(exc))
                await asyncio.sleep(2)
        self._connection.reconnect_callbacks.add(self._on_reconnect)
        channel = await self._connection.channel(publisher_confirms=False)
        exchange = await declare_exchange(channel, self._exchange)
        queue = await channel.declare_queue(
            self.queue_name, durable=False, exclusive=True, auto_delete=True
        )
        await queue.bind(exchange, routing_key=ApiKeyRevoked.routing_key())
        await queue.consume(self._on_message, no_ack=True)
        self.listening.set()
        log.info("apikey_revocations.listening", queue=self.queue_name)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            payload = Envelope.model_validate_json(message.body).payload()
        except (ValidationError, LookupError, ValueError) as exc:
            log.warning("apikey_revocations.undecodable", error=repr(exc))
            return
        if isinstance(payload, ApiKeyRevoked):
            evicted = self.client.evict_key_id(payload.api_key_id)
            log.info("apikey_revocations.evicted", api_key_id=payload.api_key_id, entries=evicted)

    def _on_reconnect(self, *_: object) -> None:
        # Revocations published while we were away were not seen: forget every answer.
        self.client.clear()
        log.info("apikey_revocations.reconnected_cache_cleared")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
        self.listening.clear()
