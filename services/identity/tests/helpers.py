"""Helpers of identity's tests: unique users, registration, bearer headers."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


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
