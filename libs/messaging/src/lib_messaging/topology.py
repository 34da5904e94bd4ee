"""Exchange and queue names, and their idempotent declaration.

For each service and handler group there is one durable quorum queue bound to the event types
it handles, one delay queue per retry delay that dead-letters back into it when the delay has
passed, and one dead-letter queue. Declaring the same topology twice is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from lib_messaging.envelope import routing_key


@dataclass(frozen=True)
class QueueNames:
    """The names of one handler group's queues."""

    main: str

    @property
    def dead_letter(self) -> str:
        return f"{self.main}.dlq"

    def retry(self, delay_ms: int) -> str:
        return f"{self.main}.retry.{delay_ms}ms"


def queue_names(prefix: str, service: str, group: str) -> QueueNames:
    return QueueNames(main=f"{prefix}{service}.{group}")


async def declare_exchange(channel: AbstractChannel, name: str) -> AbstractExchange:
    return await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)


@dataclass(frozen=True)
class QueueTopology:
    """What one handler group declares: its queues and the event types bound to the main one."""

    names: QueueNames
    event_types: Sequence[tuple[str, int]]
    retry_delays_ms: Sequence[int]
    delivery_limit: int
    # Drop the queues after this long unused: for short-lived environments (previews, tests).
    expires_ms: int | None = None

    def _expiry(self) -> dict[str, Any]:
        return {"x-expires": self.expires_ms} if self.expires_ms else {}

    async def declare(self, channel: AbstractChannel, exchange: AbstractExchange) -> AbstractQueue:
        main = await channel.declare_queue(
            self.names.main,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                # A backstop for messages that crash the consumer before it can ack or nack:
                # past this many redeliveries the broker dead-letters them itself.
                "x-delivery-limit": self.delivery_limit,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.names.dead_letter,
                **self._expiry(),
            },
        )
        await channel.declare_queue(
            self.names.dead_letter,
            durable=True,
            arguments={"x-queue-type": "quorum", **self._expiry()},
        )
        for delay in self.retry_delays_ms:
            await channel.declare_queue(
                self.names.retry(delay),
                durable=True,
                arguments={
                    "x-message-ttl": delay,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": self.names.main,
                    **self._expiry(),
                },
            )
        for event_type, version in self.event_types:
            await main.bind(exchange, routing_key=routing_key(event_type, version))
        return main

    def retry_queue_for(self, attempt: int) -> str:
        """The delay queue of the n-th retry (1-based); the longest delay repeats."""
        delays = list(self.retry_delays_ms)
        return self.names.retry(delays[min(attempt, len(delays)) - 1])


def all_queue_names(topologies: Iterable[QueueTopology]) -> list[str]:
    names: list[str] = []
    for topology in topologies:
        names.append(topology.names.main)
        names.append(topology.names.dead_letter)
        names.extend(topology.names.retry(d) for d in topology.retry_delays_ms)
    return names
