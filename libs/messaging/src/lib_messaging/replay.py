"""Moves dead letters back to their queue once the cause is fixed."""

from __future__ import annotations

import structlog
from aio_pika.abc import AbstractConnection

from lib_messaging.consumer import ATTEMPT_HEADER, copy_with_headers, header_count
from lib_messaging.topology import QueueNames

log = structlog.get_logger(__name__)

REPLAYED_HEADER = "x-replayed"


async def replay_dead_letters(
    connection: AbstractConnection, names: QueueNames, *, limit: int | None = None
) -> int:
    """Re-publish up to `limit` dead letters to the main queue; returns how many moved.

    Each one gets a fresh attempt count (the failure history stays in its headers) and is
    removed from the dead-letter queue only after the broker confirmed the copy.
    """
    moved = 0
    async with connection.channel(publisher_confirms=True, on_return_raises=True) as channel:
        dead_letters = await channel.get_queue(names.dead_letter, ensure=True)
        while limit is None or moved < limit:
            message = await dead_letters.get(no_ack=False, fail=False)
            if message is None:
                break
            headers = dict(message.headers or {})
            headers[ATTEMPT_HEADER] = 0
            headers[REPLAYED_HEADER] = header_count(headers, REPLAYED_HEADER) + 1
            copy = copy_with_headers(message, headers)
            try:
                await channel.default_exchange.publish(copy, routing_key=names.main, mandatory=True)
            except Exception:
                await message.nack(requeue=True)
                raise
            await message.ack()
            moved += 1
    log.info("dead_letters.replayed", queue=names.main, moved=moved)
    return moved


async def dead_letter_depth(connection: AbstractConnection, names: QueueNames) -> int:
    async with connection.channel() as channel:
        queue = await channel.declare_queue(names.dead_letter, passive=True)
        return queue.declaration_result.message_count or 0
