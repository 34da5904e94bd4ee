"""Brute-force protection of the login: limits per attempted email and per IP address."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from .helpers import PASSWORD, register, unique_email

ClientFrom = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


def unique_ip() -> str:
    """An address no other test logs in from, so their failures never add up."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


@pytest.fixture
def client_from(identity_app: FastAPI) -> ClientFrom:
    @asynccontextmanager
    async def make(ip: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=identity_app, client=(ip, 40_000))
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as http:
            yield http

    return make


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_too_many_failures_for_an_account_refuse_even_the_right_password(
    client_from: ClientFrom,
) -> None:
    email = unique_email("victim")
    async with client_from(unique_ip()) as attacker:
        await register(attacker, email)
        for _ in range(5):
            assert (await _login(attacker, email, "wrong password")).status_code == 401
        refused = await _login(attacker, email.upper(), PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["Retry-After"]) <= 900
    assert refused.json()["status"] == 429

    # The limit is the account's: the right password from elsewhere is refused too...
    async with client_from(unique_ip()) as owner:
        assert (await _login(owner, email, PASSWORD)).status_code == 429
        # ...while another account, from another address, is not affected.
        other = unique_email("bystander")
        await register(owner, other)
        assert (await _login(owner, other, PASSWORD)).status_code == 200


async def test_an_unknown_email_is_limited_alike(client_from: ClientFrom) -> None:
    ghost = unique_email("ghost")
    async with client_from(unique_ip()) as attacker:
        for _ in range(5):
            assert (await _login(attacker, ghost, PASSWORD)).status_code == 401
        refused = await _login(attacker, ghost, PASSWORD)
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers


async def test_too_many_failures_from_one_address_refuse_every_email(
    client_from: ClientFrom,
) -> None:
    ip = unique_ip()
    async with client_from(ip) as sprayer:
        email = unique_email("sprayed")
        await register(sprayer, email)
        for _ in range(20):
            wrong = await _login(sprayer, unique_email("spray"), "wrong password")
            assert wrong.status_code == 401
        refused = await _login(sprayer, email, PASSWORD)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 900
    async with client_from(unique_ip()) as elsewhere:
        assert (await _login(elsewhere, email, PASSWORD)).status_code == 200


async def test_failures_older_than_the_window_no_longer_count(
    client_from: ClientFrom, identity_app: FastAPI
) -> None:
    email = unique_email("patient")
    async with client_from(unique_ip()) as client:
        await register(client, email)
        for _ in range(5):
            await _login(client, email, "wrong password")
        assert (await _login(client, email, PASSWORD)).status_code == 429
        # A success does not erase the failures: only their age does.
        async with identity_app.state.database.engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE audit_logs SET created_at = created_at - interval '901 seconds' "
                    "WHERE action = 'LOGIN_FAILED' AND metadata ->> 'email' = :email"
                ),
                {"email": email.lower()},
            )
        assert (await _login(client, email, PASSWORD)).status_code == 200
