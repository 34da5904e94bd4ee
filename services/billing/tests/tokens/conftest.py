"""Fixtures of the token tests: the billing app over ASGI with locally verified access tokens,
its database, and the internal caller's headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from billing.config import BillingSettings
from billing.main import create_app
from lib_auth import internal_auth_headers
from lib_database import Database, UnitOfWork

from ..helpers import local_jwt_verifier

INTERNAL_TOKEN = "billing-tokens-internal-test-token"


@pytest.fixture(autouse=True)
def _billing_schema(migrate_service: Callable[[str], None]) -> None:
    migrate_service("billing")


@dataclass
class TokensApp:
    http: httpx.AsyncClient
    app: FastAPI
    settings: BillingSettings
    database: Database

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.database, source="billing")

    @property
    def internal(self) -> dict[str, str]:
        return internal_auth_headers(INTERNAL_TOKEN)


@pytest.fixture
def billing_settings(service_settings: Callable[..., Any]) -> BillingSettings:
    settings: BillingSettings = service_settings(
        BillingSettings,
        internal_token=INTERNAL_TOKEN,
        daily_generation_limits={"FREE": 1000},
        reservation_timeout_s=600,
    )
    return settings


@pytest.fixture
async def tokens_app(billing_settings: BillingSettings) -> AsyncIterator[TokensApp]:
    app = create_app(billing_settings)
    database = Database.from_settings(billing_settings)
    try:
        async with local_jwt_verifier() as verifier, app.router.lifespan_context(app):
            app.state.jwt_verifier = verifier
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://billing", timeout=60
            ) as http:
                yield TokensApp(http, app, billing_settings, database)
    finally:
        await database.dispose()
