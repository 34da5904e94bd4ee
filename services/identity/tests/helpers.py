"""Helpers of identity's tests: unique users, registration, bearer headers."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

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
