"""A small service built with create_service_app, served in-process over httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import ClassVar

import httpx
import pytest
import structlog
from fastapi import APIRouter, FastAPI
from lib_messaging.context import correlation_id_var
from lib_settings import ServiceSettings
from lib_web import NotFoundError, create_service_app, register_metrics_refresher
from lib_web import register_readiness_check
from pydantic import BaseModel


class DemoSettings(ServiceSettings):
    service_name: ClassVar[str] = "demo"
    http_port_default: ClassVar[int] = 8999


class NewItem(BaseModel):
    name: str
    quantity: int


class DemoDependencies:
    """What the lifespan "connects" to; tests flip `broker_up` and count refreshes."""

    def __init__(self) -> None:
        self.broker_up = True
        self.refreshes = 0

    async def ping_database(self) -> None:
        return None

    async def ping_broker(self) -> None:
        if not self.broker_up:
            raise ConnectionError("broker unreachable")

    async def refresh_gauges(self) -> None:
        self.refreshes += 1

    async def broken_refresher(self) -> None:
        raise RuntimeError("dead-letter queue depth unavailable")


def demo_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    log = structlog.stdlib.get_logger("demo")

    @router.get("/items/{item_id}")
    async def get_item(item_id: str) -> dict[str, str | None]:
        log.info("item read", item_id=item_id)
        return {"id": item_id, "correlationId": correlation_id_var.get()}

    @router.post("/items", status_code=201)
    async def create_item(item: NewItem) -> NewItem:
        return item

    @router.get("/missing/{item_id}")
    async def missing(item_id: str) -> None:
        raise NotFoundError(f"item {item_id} does not exist", itemId=item_id)

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 in a secret internal place")

    return router


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
