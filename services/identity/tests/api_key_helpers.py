"""Helpers of the API key tests: verified owners, keys, trials, the internal verify call, SQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from lib_auth import API_KEY_VERIFY_PATH, INTERNAL_TOKEN_HEADER

from .helpers import bearer, register

INTERNAL = {INTERNAL_TOKEN_HEADER: "internal-dev-token"}


async def execute(app: FastAPI, sql: str, **params: Any) -> None:
    async with app.state.database.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def row(app: FastAPI, sql: str, **params: Any) -> Any:
    async with app.state.database.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).mappings().first()


async def rows(app: FastAPI, sql: str, **params: Any) -> list[Any]:
    async with app.state.database.engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).mappings())


async def verified_owner(client: httpx.AsyncClient, app: FastAPI) -> dict[str, str]:
    """A registered user whose email counts as verified (the email flow is another issue's);
    their bearer headers, with their id under `user_id`."""
    grant = await register(client)
    await execute(
        app, "UPDATE users SET email_verified = now() WHERE id = :id", id=grant["user"]["id"]
    )
    return {**bearer(grant), "user_id": grant["user"]["id"]}


def auth_of(owner: dict[str, str]) -> dict[str, str]:
    return {"Authorization": owner["Authorization"]}


async def create_key(
    client: httpx.AsyncClient, owner: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/api-keys",
        json={"name": "ci", "scopes": ["market_data:read"], **body},
        headers=auth_of(owner),
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def verify(
    client: httpx.AsyncClient, key: str, required_scopes: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"key": key}
    if required_scopes is not None:
        body["requiredScopes"] = required_scopes
    response = await client.post(API_KEY_VERIFY_PATH, json=body, headers=INTERNAL)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def slug() -> str:
    return f"acme-{uuid.uuid4().hex[:10]}"


async def open_trial(
    client: httpx.AsyncClient, owner: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/trials", json={"name": "Acme", "slug": slug(), **body}, headers=auth_of(owner)
    )
    assert response.status_code == 201, response.text
    opened: dict[str, Any] = response.json()
    return opened


async def trial_key(
    client: httpx.AsyncClient, owner: dict[str, str], workspace_id: str
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/trials/{workspace_id}/api-keys", json={"label": "ci"}, headers=auth_of(owner)
    )
    assert response.status_code == 201, response.text
    issued: dict[str, Any] = response.json()
    return issued
