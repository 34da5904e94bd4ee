"""Identity's API keys seen from the rest of the platform, over the real broker.

Identity runs its API and its worker (relay, consumers); billing runs a relay for the
subscription events it emits; a consuming service (content) runs an API whose routes take
API keys through lib_auth's ApiKeyClient (its cache evicted by `identity.apikey.revoked`) and
report their calls to identity in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from sqlalchemy import text

from billing.config import BillingSettings
from content.config import ContentSettings
from identity.config import IdentitySettings
from identity.events import SUBSCRIPTIONS as IDENTITY_SUBSCRIPTIONS
from identity.main import create_app as create_identity_app
from lib_auth import ApiKeyClient, ApiKeyPrincipal
from lib_contracts.content import ContentApiUsageRecorded
from lib_database import Database, UnitOfWork
from lib_messaging.topology import all_queue_names
from lib_messaging.worker import EventWorker, queue_topology
from lib_runtime.app import create_platform_app
from lib_settings import ServiceSettings

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def migrated(migrate_service: Callable[[str], None]) -> None:
    for service in ("identity", "billing", "content"):
        migrate_service(service)


async def wait_until(check: Callable[[], Awaitable[bool]], *, within_s: float, what: str) -> float:
    """Poll until `check()`; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {within_s}s waiting for {what}")


@pytest.fixture
def identity_settings(service_settings: Callable[..., Any], migrated: None) -> IdentitySettings:
    settings: IdentitySettings = service_settings(IdentitySettings)
    return settings


@pytest.fixture
async def identity_app(identity_settings: IdentitySettings) -> AsyncIterator[FastAPI]:
    app = create_identity_app(identity_settings)
    async with app.router.lifespan_context(app):
        async with app.state.database.engine.begin() as conn:
            # Each test starts with an empty outbox, so no test publishes another's events.
            await conn.execute(text("DELETE FROM outbox"))
        yield app


@pytest.fixture
async def identity(identity_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=identity_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as http:
        yield http


@pytest.fixture
async def workers(amqp_url: str) -> AsyncIterator[list[tuple[EventWorker, Database]]]:
    """Workers a test starts; stopped at the end and their queues deleted."""
    started: list[tuple[EventWorker, Database]] = []
    yield started
    queues = [
        name
        for worker, _ in started
        for subscription in worker.subscriptions
        for name in all_queue_names([queue_topology(worker.settings, subscription)])
    ]
    for worker, database in reversed(started):
        await worker.stop()
        await database.dispose()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for name in queues:
            await channel.queue_delete(name)


async def start_worker(
    workers: list[tuple[EventWorker, Database]],
    settings: ServiceSettings,
    subscriptions: list[Any],
) -> Database:
    database = Database.from_settings(settings)
    worker = EventWorker(
        settings,
        database.engine,
        subscriptions,
        lambda: UnitOfWork(database, source=settings.service_name),
    )
    await worker.start()
    workers.append((worker, database))
    return database


@pytest.fixture
async def identity_worker(
    workers: list[tuple[EventWorker, Database]], identity_settings: IdentitySettings
) -> Database:
    return await start_worker(workers, identity_settings, IDENTITY_SUBSCRIPTIONS)


@pytest.fixture
async def billing_relay(
    workers: list[tuple[EventWorker, Database]], service_settings: Callable[..., Any]
) -> tuple[Database, BillingSettings]:
    settings: BillingSettings = service_settings(BillingSettings)
    return await start_worker(workers, settings, []), settings


class CountingTransport(httpx.ASGITransport):
    """The consumer's line to identity, counting the requests that go over it."""

    requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await super().handle_async_request(request)


def consumer_routes() -> APIRouter:
    """What a consuming service's API-key route looks like, answering the status it is asked."""
    router = APIRouter()

    @router.get("/api/v1/probe")
    async def probe(key: ApiKeyPrincipal, status: int = 200) -> dict[str, Any]:
        if status >= 400:
            raise HTTPException(status, "as asked")
        return {"keyId": key.key_id, "tier": key.tier}

    return router


@pytest.fixture
async def content_app(
    service_settings: Callable[..., Any], identity_app: FastAPI, migrated: None
) -> AsyncIterator[FastAPI]:
    """A content API that takes API keys (cached for a minute: only eviction can drop them)."""
    settings: ContentSettings = service_settings(ContentSettings)
    transport = CountingTransport(app=identity_app)
    to_identity = httpx.AsyncClient(transport=transport, base_url="http://identity")
    client = ApiKeyClient(
        "http://identity",
        settings.internal_token.get_secret_value(),
        cache_ttl_s=60,
        http=to_identity,
    )
    app = create_platform_app(
        settings,
        routers=[consumer_routes()],
        api_key_client=client,
        api_usage_event=ContentApiUsageRecorded,
    )
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(to_identity)
        await stack.enter_async_context(app.router.lifespan_context(app))
        async with app.state.database.engine.begin() as conn:
            await conn.execute(text("DELETE FROM outbox"))
        app.state.identity_calls = transport
        yield app


@pytest.fixture
async def content(content_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=content_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
        yield http


async def active_key(
    identity: httpx.AsyncClient, identity_app: FastAPI, **body: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """A new user's key, active (their email counted as verified); (key, owner's headers)."""
    email = f"keys-{uuid.uuid4().hex[:10]}@example.com"
    grant = (
        await identity.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    ).json()
    async with identity_app.state.database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET email_verified = now() WHERE id = :id"),
            {"id": grant["user"]["id"]},
        )
    headers = {"Authorization": f"Bearer {grant['accessToken']}"}
    response = await identity.post(
        "/api/v1/api-keys", json={"name": "e2e", **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json(), headers
