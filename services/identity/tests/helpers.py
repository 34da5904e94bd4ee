"""Helpers of identity's tests: unique users, registration, bearer headers, mailed tokens."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from email.message import EmailMessage
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from identity.mail.sink import MailSink

from .oidc_provider import Login, OidcTestProvider


def unique_email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@Example.com"


PASSWORD = "correct horse battery"


async def register(
    client: httpx.AsyncClient, email: str | None = None, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": email or unique_email(), "password": PASSWORD, **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token_body: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_body['accessToken']}"}


_TOKEN_IN_LINK = re.compile(r"[?&]token=([A-Za-z0-9_\-]+)")


async def mailed_token(
    sink: MailSink, email: str, subject: str, *, skip: int = 0, timeout_s: float = 15.0
) -> str:
    """The token in the link of the (skip+1)-th mail with `subject` sent to `email`."""
    to = email.lower()

    def matching(message: EmailMessage) -> bool:
        return str(message["To"]).lower() == to and message["Subject"] == subject

    deadline = time.monotonic() + timeout_s
    while len(found := [m for m in sink.messages if matching(m)]) <= skip:
        assert time.monotonic() < deadline, f"only {len(found)} mails {subject!r} to {to}"
        await asyncio.sleep(0.05)
    body = found[skip].get_body(preferencelist=("plain",))
    assert body is not None
    match = _TOKEN_IN_LINK.search(body.get_content())
    assert match is not None, body.get_content()
    return match.group(1)


VERIFY_SUBJECT = "Confirm your email address"
RESET_SUBJECT = "Reset your password"


async def provider_sign_in(
    client: httpx.AsyncClient, provider: OidcTestProvider, name: str, login: Login
) -> httpx.Response:
    """The browser's round trip: identity's authorize, the provider's authorize (over real
    HTTP), then identity's callback with the flow cookie `client` keeps."""
    provider.next_login = login
    start = await client.get(f"/api/v1/auth/oauth/{name}/authorize")
    assert start.status_code == 302, start.text
    async with httpx.AsyncClient() as browser:
        at_provider = await browser.get(start.headers["location"])
    assert at_provider.status_code == 302, at_provider.text
    return await client.get(at_provider.headers["location"])


async def identity_rows(app: FastAPI) -> dict[str, list[str]]:
    """Every row of every table of the identity schema, as JSON text, sorted, by table."""
    rows: dict[str, list[str]] = {}
    async with app.state.database.engine.connect() as conn:
        tables = await conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'identity'")
        )
        for table in sorted(tables.scalars()):
            dumped = await conn.execute(
                text(f'SELECT row_to_json(t)::text FROM identity."{table}" t')
            )
            rows[table] = sorted(dumped.scalars())
    return rows
