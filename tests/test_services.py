"""The five services are alike: each serves health, readiness, OpenAPI and metrics, and its
worker starts and stops cleanly, against the real database and broker."""

from __future__ import annotations

import asyncio
import importlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from lib_database import Database
from lib_database.migrations import check
from lib_runtime.worker_cli import build_worker

SERVICES = ["identity", "billing", "market_data", "booking", "content"]


def settings_class(service: str) -> Any:
    config = importlib.import_module(f"{service}.config")
    name = "".join(part.capitalize() for part in service.split("_")) + "Settings"
    return getattr(config, name)


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest, migrate_service) -> str:
    migrate_service(request.param)
    return str(request.param)


async def test_app_serves_probes_openapi_and_metrics(service: str, service_settings) -> None:
    settings = service_settings(settings_class(service))
    app = importlib.import_module(f"{service}.main").create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/healthz")).status_code == 200
            for _ in range(100):  # the broker connects in the background
                ready = await client.get("/readyz")
                if ready.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
            openapi = (await client.get("/openapi.json")).json()
            assert openapi["info"]["title"] == service
            async with app.state.database.engine.connect() as conn:
                backlog = (
                    await conn.execute(
                        text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    )
                ).scalar_one()
            exposition = (await client.get("/metrics")).text
            assert f"outbox_backlog_events {float(backlog)}" in exposition  # read from the table
            assert "http_request_duration_seconds" in exposition


async def test_readiness_fails_when_the_database_is_unreachable(
    service: str, service_settings
) -> None:
    settings = service_settings(
        settings_class(service), database_url="postgresql+asyncpg://nobody:x@127.0.0.1:1/none"
    )
    app = importlib.import_module(f"{service}.main").create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.headers["content-type"].startswith("application/problem+json")
            assert "database" in ready.text


async def test_worker_starts_and_stops(service: str, service_settings) -> None:
    settings = service_settings(settings_class(service))
    subscriptions = importlib.import_module(f"{service}.events").SUBSCRIPTIONS
    database = Database.from_settings(settings)
    try:
        worker = build_worker(settings, database, subscriptions)
        await worker.start()
        await worker.stop()
        assert worker.connection is not None and worker.connection.is_closed
    finally:
        await database.dispose()


def test_migrations_match_the_models(service: str, platform_database, pytestconfig) -> None:
    """A model changed without a migration (or the reverse) fails here, not in production."""
    ini = pytestconfig.rootpath / "services" / service / "alembic.ini"
    with ThreadPoolExecutor(1) as pool:  # Alembic's env runs its own event loop
        pool.submit(check, str(ini), platform_database.url_for(service)).result()
