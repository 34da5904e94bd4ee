"""Registration, login, refresh and logout over HTTP against the real database."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from .helpers import PASSWORD, bearer, register, unique_email


async def _scalar(app: FastAPI, sql: str, **params: Any) -> Any:
    async with app.state.database.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def test_register_grants_tokens_and_announces_the_user(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    email = unique_email("Register")
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "name": "Ada"},
        headers={"X-Request-ID": "register-req-1"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == 900
    assert body["accessToken"] and body["refreshToken"]
    user = body["user"]
    assert user["email"] == email.lower()
    assert user["name"] == "Ada"
    assert user["role"] == "USER"
    assert user["emailVerified"] is None
    assert len(user["referralCode"]) >= 12
    assert "password" not in response.text.lower()

    envelope = await _scalar(
        identity_app,
        "SELECT envelope FROM outbox WHERE subject = :id AND event_type = :type",
        id=user["id"],
        type="identity.user.registered",
    )
    assert envelope["correlationId"] == "register-req-1"
    assert envelope["data"]["userId"] == user["id"]
    assert envelope["data"]["email"] == email.lower()

    me = await client.get("/api/v1/users/me", headers=bearer(body))
    assert me.status_code == 200
    assert me.json()["id"] == user["id"]


async def test_a_referral_code_links_the_new_user_to_the_referrer(
    client: httpx.AsyncClient,
) -> None:
    referrer = await register(client)
    referee = await register(client, referralCode=referrer["user"]["referralCode"])
    assert referee["user"]["referredById"] == referrer["user"]["id"]
    assert referee["user"]["referralCode"] != referrer["user"]["referralCode"]


async def test_an_email_registers_once_whatever_its_case(client: httpx.AsyncClient) -> None:
    email = unique_email("dup")
    await register(client, email)
    again = await client.post(
        "/api/v1/auth/register", json={"email": email.upper(), "password": PASSWORD}
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_registration_rejects_short_passwords_and_privileged_fields(
    client: httpx.AsyncClient,
) -> None:
    short = await client.post(
        "/api/v1/auth/register", json={"email": unique_email(), "password": "tiny-pw"}
    )
    assert short.status_code == 422
    assert "tiny-pw" not in short.text  # the rejected input is not echoed
    privileged = await client.post(
        "/api/v1/auth/register",
        json={"email": unique_email(), "password": PASSWORD, "role": "ADMIN"},
    )
    assert privileged.status_code == 422


async def test_unknown_email_and_wrong_password_get_the_same_answer(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    email = unique_email("login")
    registered = await register(client, email)
    good = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert good.status_code == 200
    assert good.json()["user"]["id"] == registered["user"]["id"]
    assert good.json()["refreshToken"] != registered["refreshToken"]

    wrong = await client.post("/api/v1/auth/login", json={"email": email, "password": "nope" * 3})
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": unique_email("ghost"), "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401

    def comparable(response: httpx.Response) -> dict[str, Any]:
        body: dict[str, Any] = response.json()
        body.pop("requestId")
        return body

    assert comparable(wrong) == comparable(unknown)

    failures = await _scalar(
        identity_app,
        "SELECT count(*) FROM audit_logs WHERE user_id = :id AND action = 'LOGIN_FAILED' "
        "AND ip_address IS NOT NULL",
        id=registered["user"]["id"],
    )
    assert failures == 1
    logins = await _scalar(
        identity_app,
        "SELECT count(*) FROM audit_logs WHERE user_id = :id AND action = 'LOGIN'",
        id=registered["user"]["id"],
    )
    assert logins == 1


async def test_login_rehashes_a_password_hashed_with_older_parameters(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    from argon2 import PasswordHasher

    email = unique_email("rehash")
    user = (await register(client, email))["user"]
    # OWASP's minimum, weaker than the service's parameters.
    old_hash = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1).hash(PASSWORD)
    async with identity_app.state.database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET password_hash = :h WHERE id = :id"),
            {"h": old_hash, "id": user["id"]},
        )
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    new_hash = await _scalar(
        identity_app, "SELECT password_hash FROM users WHERE id = :id", id=user["id"]
    )
    assert new_hash != old_hash
    assert new_hash.startswith("$argon2id$")
    assert not identity_app.state.credential_kit.passwords.needs_rehash(new_hash)


async def test_refresh_rotates_and_reuse_revokes_the_session(client: httpx.AsyncClient) -> None:
    first = await register(client)
    second = await client.post("/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refreshToken"] != first["refreshToken"]
    assert rotated["accessToken"] != first["accessToken"]
    third = await client.post(
        "/api/v1/auth/refresh", json={"refreshToken": rotated["refreshToken"]}
    )
    assert third.status_code == 200
    newest = third.json()

    # The first token again: someone replayed it, so the whole session ends.
    reused = await client.post("/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert reused.status_code == 401
    after = await client.post("/api/v1/auth/refresh", json={"refreshToken": newest["refreshToken"]})
    assert after.status_code == 401
    me = await client.get("/api/v1/users/me", headers=bearer(newest))
    assert me.status_code == 401

    unknown = await client.post("/api/v1/auth/refresh", json={"refreshToken": "not-a-token"})
    assert unknown.status_code == 401


async def test_logout_ends_one_session_and_logout_all_ends_every_one(
    client: httpx.AsyncClient,
) -> None:
    email = unique_email("logout")
    first = await register(client, email)
    second = (
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    ).json()
    third = (
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    ).json()

    logout = await client.post("/api/v1/auth/logout", json={"refreshToken": first["refreshToken"]})
    assert logout.status_code == 204
    assert (await client.get("/api/v1/users/me", headers=bearer(first))).status_code == 401
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]}
    )
    assert refresh.status_code == 401
    assert (await client.get("/api/v1/users/me", headers=bearer(second))).status_code == 200

    everywhere = await client.post("/api/v1/auth/logout-all", headers=bearer(second))
    assert everywhere.status_code == 204
    for grant in (second, third):
        assert (await client.get("/api/v1/users/me", headers=bearer(grant))).status_code == 401
        refresh = await client.post(
            "/api/v1/auth/refresh", json={"refreshToken": grant["refreshToken"]}
        )
        assert refresh.status_code == 401

    assert (await client.post("/api/v1/auth/logout-all")).status_code == 401
