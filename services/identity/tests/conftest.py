from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from identity.config import IdentitySettings
from identity.mail.sink import MailSink
from identity.main import create_app

from .oidc_provider import OidcTestProvider, serve_test_provider


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


@pytest.fixture
async def oidc_provider() -> AsyncIterator[OidcTestProvider]:
    async with serve_test_provider() as provider:
        yield provider


@pytest.fixture
async def oauth_app(
    identity_settings: Callable[..., IdentitySettings],
    oidc_provider: OidcTestProvider,
    mail_sink: MailSink,
) -> AsyncIterator[FastAPI]:
    """Identity with the test provider configured twice: `trusted-id` may link by email,
    `plain-id` may not; and `down-id`, a provider nobody answers for."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}"
    settings = identity_settings(
        smtp_host=mail_sink.host,
        smtp_port=mail_sink.port,
        oauth_providers=[
            oidc_provider.config("trusted-id", trusted=True),
            oidc_provider.config("plain-id", trusted=False),
            {"name": "down-id", "issuer": nobody, "clientId": "c", "clientSecret": "s"},
        ],
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def oauth_client(oauth_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=oauth_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as http:
        yield http
