"""Connecting to RabbitMQ: a robust connection that reconnects by itself."""

from __future__ import annotations

import contextlib
from typing import Any, cast

import aio_pika
import structlog
from aio_pika.abc import AbstractRobustConnection
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

log = structlog.get_logger(__name__)


async def connect_broker(
    url: str, *, name: str, reconnect_interval_s: float = 1.0, give_up_after_s: float = 60.0
) -> AbstractRobustConnection:
    """Connect, retrying while the broker is still coming up; later drops reconnect inside."""
    made: list[aio_pika.RobustConnection] = []

    def tracked(*args: Any, **kwargs: Any) -> aio_pika.RobustConnection:
        made.append(aio_pika.RobustConnection(*args, **kwargs))
        return made[-1]

    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((ConnectionError, OSError, aio_pika.exceptions.AMQPError)),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(give_up_after_s),
        reraise=True,
    ):
        with attempt:
            try:
                return await aio_pika.connect_robust(
                    url,
                    reconnect_interval=reconnect_interval_s,
                    client_properties={"connection_name": name},
                    connection_class=cast(type[aio_pika.RobustConnection], tracked),
                )
            except BaseException:
                # Cancelled mid-connect (an app stopped before the broker answered), a robust
                # connection keeps reconnecting in a task of its own: close it, or it never ends.
                for connection in made:
                    with contextlib.suppress(Exception):
                        await connection.close()
                made.clear()
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def ping_broker(connection: AbstractRobustConnection) -> None:
    """Readiness: the connection is open and a channel can be opened on it."""
    if connection.is_closed:
        raise ConnectionError("broker connection is closed")
    channel = await connection.channel(publisher_confirms=False)
    await channel.close()
