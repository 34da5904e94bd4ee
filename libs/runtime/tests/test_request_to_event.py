"""A request's id becomes the correlation id of the events its use case emits."""

from __future__ import annotations

from typing import ClassVar

import httpx
from fastapi import APIRouter
from sqlalchemy import text

from lib_messaging.envelope import EventPayload, event_contract
from lib_runtime.app import create_platform_app
from lib_runtime.dependencies import UnitOfWorkDep
from lib_settings import ServiceSettings


class BorrowedSchemaSettings(ServiceSettings):
    """The library knows no service; it borrows one provisioned role and schema to run in."""

    service_name: ClassVar[str] = "content"


@event_contract("test.runtime.pinged", 1)
class Pinged(EventPayload):
    word: str


router = APIRouter()


@router.post("/api/v1/pings", status_code=201)
async def ping(uow: UnitOfWorkDep) -> dict[str, str]:
    async with uow:
        uow.emit(Pinged(word="hello"), subject="ping-1")
        await uow.commit()
    return {"status": "queued"}


async def test_request_id_flows_into_the_emitted_event(service_settings, migrate_service) -> None:
    migrate_service("content")
    app = create_platform_app(service_settings(BorrowedSchemaSettings), routers=[router])
    async with app.router.lifespan_context(app):
        database = app.state.database
        async with database.engine.begin() as conn:
            await conn.execute(text("DELETE FROM outbox"))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/api/v1/pings", headers={"X-Request-ID": "req-abc.123"})
        assert response.status_code == 201
        assert response.headers["X-Request-ID"] == "req-abc.123"
        async with database.engine.connect() as conn:
            envelope = (await conn.execute(text("SELECT envelope FROM outbox"))).scalar_one()
        assert envelope["correlationId"] == "req-abc.123"
        assert envelope["source"] == "content"
        assert envelope["type"] == "test.runtime.pinged"
        async with database.engine.begin() as conn:
            await conn.execute(text("DELETE FROM outbox"))  # no relay runs here to drain it
