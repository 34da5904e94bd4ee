"""A small service built on lib_web, used by these tests."""

from __future__ import annotations

from typing import ClassVar

import structlog
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from lib_database.keyset import decode_cursor
from lib_messaging.context import correlation_id_var
from lib_settings import ServiceSettings
from lib_web import NotFoundError


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

    @router.get("/private")
    async def private() -> None:
        raise HTTPException(401, "Bearer token required.", headers={"WWW-Authenticate": "Bearer"})

    @router.get("/pages")
    async def page_after(cursor: str) -> dict[str, str]:
        created_at, row_id = decode_cursor(cursor)
        return {"createdAt": created_at.isoformat(), "id": row_id}

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 in a secret internal place")

    return router
