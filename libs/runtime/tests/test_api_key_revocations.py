"""The revocation listener: each API process evicts revoked keys from its own cache, over the
real broker; junk is ignored; a reconnect forgets every cached answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import ClassVar

import aio_pika
import httpx
import pytest

from lib_auth import ApiKeyClient, ApiKeyCode, ApiKeyVerification
from lib_contracts.identity import ApiKeyRevoked
from lib_messaging.envelope import Envelope
from lib_runtime.api_key_revocations import ApiKeyRevocationListener
from lib_settings import ServiceSettings


class ConsumerSettings(ServiceSettings):
    service_name: ClassVar[str] = "content"


class FakeIdentity:
    """Answers every known key as valid over a mock transport, and counts the asks."""

    def __init__(self, key_ids: dict[str, str]) -> None:
        self.key_ids = key_ids
        self.asked: list[str] = []
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(self._answer))

    def _answer(self, request: httpx.Request) -> httpx.Response:
        secret = json.loads(request.content)["key"]
        self.asked.append(secret)
        verification = ApiKeyVerification(
            valid=True, code=ApiKeyCode.VALID, key_id=self.key_ids[secret], owner_id="u"
        )
        return httpx.Response(200, content=verification.model_dump_json(by_alias=True))


Listening = tuple[ApiKeyClient, ApiKeyRevocationListener, FakeIdentity]


@pytest.fixture
async def listening(service_settings) -> AsyncIterator[Listening]:
    identity = FakeIdentity({"pk_one": "key-1", "pk_two": "key-2"})
    client = ApiKeyClient("http://identity", "token", cache_ttl_s=300, http=identity.http)
    listener = ApiKeyRevocationListener.from_settings(service_settings(ConsumerSettings), client)
    listener.start()
    await asyncio.wait_for(listener.listening.wait(), 10)
    try:
        yield client, listener, identity
    finally:
        await listener.stop()
        await identity.http.aclose()


async def publish(amqp_url: str, exchange: str, routing_key: str, body: bytes) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        target = await channel.get_exchange(exchange)
        await target.publish(aio_pika.Message(body=body), routing_key=routing_key)


async def test_a_revocation_evicts_that_key_only_and_junk_is_ignored(
    listening: Listening, bus_namespace
) -> None:
    client, _, identity = listening
    for secret in ("pk_one", "pk_two"):
        await client.verify(secret)
    await client.verify("pk_one")
    assert identity.asked == ["pk_one", "pk_two"]

    routing_key = ApiKeyRevoked.routing_key()
    await publish(bus_namespace.amqp_url, bus_namespace.exchange, routing_key, b"not json")
    revoked = ApiKeyRevoked(
        api_key_id="key-1", user_id="u", key_prefix="pk_one", revoked_at=datetime.now(UTC)
    )
    envelope = Envelope.wrap(revoked, source="identity", subject="key-1", correlation_id="c")
    await publish(bus_namespace.amqp_url, bus_namespace.exchange, routing_key, envelope.to_json())

    for _ in range(100):
        await client.verify("pk_one")
        if identity.asked.count("pk_one") == 2:
            break
        await asyncio.sleep(0.02)
    assert identity.asked.count("pk_one") == 2
    await client.verify("pk_two")
    assert identity.asked.count("pk_two") == 1


async def test_a_reconnect_forgets_every_cached_answer(listening: Listening) -> None:
    client, listener, identity = listening
    await client.verify("pk_one")
    listener._on_reconnect()  # what the robust connection calls after it reconnected
    await client.verify("pk_one")
    assert identity.asked == ["pk_one", "pk_one"]
