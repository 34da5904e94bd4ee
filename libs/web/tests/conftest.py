"""Fixtures: the demo service built with create_service_app, served in-process over httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from lib_web import create_service_app, register_metrics_refresher, register_readiness_check

from .demo_service import DemoDependencies, DemoSettings, demo_router


@pytest.fixture
def dependencies() -> DemoDependencies:
    return DemoDependencies()


@pytest.fixture
def app(dependencies: DemoDependencies) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # As a service does: its resources exist only now, so they are registered now.
        register_readiness_check(app, "broker", dependencies.ping_broker)
        register_metrics_refresher(app, dependencies.refresh_gauges)
        register_metrics_refresher(app, dependencies.broken_refresher)
        yield

    return create_service_app(
        DemoSettings(),
        routers=[demo_router()],
        lifespan=lifespan,
        readiness_checks={"database": dependencies.ping_database},
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://demo.test") as client,
    ):
        yield client
