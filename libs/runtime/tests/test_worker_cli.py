"""The worker command's replay-dead-letters subcommand, against the real broker."""

from __future__ import annotations

from typing import ClassVar

import aio_pika
import pytest

from lib_messaging.consumer import Subscription
from lib_messaging.envelope import EventPayload, event_contract
from lib_messaging.worker import queue_topology
from lib_runtime.worker_cli import worker_main
from lib_settings import ServiceSettings


class BorrowedSchemaSettings(ServiceSettings):
    service_name: ClassVar[str] = "booking"


@event_contract("test.cli.nudged", 1)
class Nudged(EventPayload):
    n: int


async def _ignore(*_: object) -> None:
    return None


SUBSCRIPTION = Subscription.of("cli", {Nudged: _ignore})


def test_replay_moves_dead_letters_back(service_settings, bus_namespace) -> None:
    import asyncio

    settings = service_settings(BorrowedSchemaSettings)
    names = queue_topology(settings, SUBSCRIPTION).names

    async def seed() -> None:
        connection = await aio_pika.connect(bus_namespace.amqp_url)
        async with connection:
            channel = await connection.channel()
            for queue in (names.main, names.dead_letter):
                await channel.declare_queue(
                    queue, durable=True, arguments={"x-queue-type": "quorum"}
                )
            for n in range(3):
                await channel.default_exchange.publish(
                    aio_pika.Message(f"dead {n}".encode()), routing_key=names.dead_letter
                )

    async def depths() -> tuple[int, int]:
        connection = await aio_pika.connect(bus_namespace.amqp_url)
        async with connection:
            channel = await connection.channel()
            main = await channel.declare_queue(names.main, passive=True)
            dlq = await channel.declare_queue(names.dead_letter, passive=True)
            result = (main.declaration_result.message_count, dlq.declaration_result.message_count)
            for queue in (names.main, names.dead_letter):
                await channel.queue_delete(queue)
            return result

    asyncio.run(seed())
    worker_main(lambda: settings, [SUBSCRIPTION], ["replay-dead-letters", "--limit", "2"])
    assert asyncio.run(depths()) == (2, 1)


def test_replay_refuses_a_service_without_subscriptions(service_settings) -> None:
    settings = service_settings(BorrowedSchemaSettings)
    with pytest.raises(SystemExit) as exit_info:
        worker_main(lambda: settings, [], ["replay-dead-letters"])
    assert exit_info.value.code == 2
