from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from identity.config import IdentitySettings
from identity.mail.sink import MailSink
from identity.main import create_app


@pytest.fixture(autouse=True)
def _identity_schema(migrate_service: Callable[[str], None]) -> None:
    migrate_service("identity")


@pytest.fixture
def identity_settings(service_settings: Callable[..., Any]) -> Callable[..., IdentitySettings]:
    def make(**overrides: Any) -> IdentitySettings:
        settings: IdentitySettings = service_settings(IdentitySettings, **overrides)
        return settings

    return make


@pytest.fixture
async def mail_sink() -> AsyncIterator[MailSink]:
    """A real SMTP server on a free port; identity_app sends its mails there."""
    async with MailSink("127.0.0.1", 0) as sink:
        yield sink


@pytest.fixture
async def identity_app(
    identity_settings: Callable[..., IdentitySettings], mail_sink: MailSink
) -> AsyncIterator[FastAPI]:
    app = create_app(identity_settings(smtp_host=mail_sink.host, smtp_port=mail_sink.port))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(identity_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=identity_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as http:
        yield http
