"""The signed-in user's own account and sessions: /api/v1/users/me."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from .helpers import PASSWORD, bearer, register, unique_email


async def _row(app: FastAPI, sql: str, **params: Any) -> Any:
    async with app.state.database.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).mappings().first()


async def test_patch_me_changes_the_profile_and_announces_it(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    grant = await register(client)
    user_id = grant["user"]["id"]
    response = await client.patch(
        "/api/v1/users/me",
        json={"name": "Grace", "company": "Navy", "phone": "+1 555"},
        headers=bearer(grant),
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Grace"
    assert response.json()["company"] == "Navy"
    row = await _row(identity_app, "SELECT revision, name FROM users WHERE id = :id", id=user_id)
    assert row["revision"] == 2
    event = await _row(
        identity_app,
        "SELECT envelope FROM outbox WHERE subject = :id AND event_type = 'identity.user.updated'",
        id=user_id,
    )
    assert event["envelope"]["data"]["revision"] == 2
    assert event["envelope"]["data"]["name"] == "Grace"


async def test_patch_me_refuses_role_and_email_verified(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    grant = await register(client)
    for forbidden in ({"role": "ADMIN"}, {"emailVerified": "2024-01-01T00:00:00Z"}):
        response = await client.patch(
            "/api/v1/users/me", json={"name": "Mallory", **forbidden}, headers=bearer(grant)
        )
        assert response.status_code == 422, response.text
    row = await _row(
        identity_app,
        "SELECT role, email_verified, name, revision FROM users WHERE id = :id",
        id=grant["user"]["id"],
    )
    assert dict(row) == {"role": "USER", "email_verified": None, "name": None, "revision": 1}


async def test_sessions_are_listed_newest_first_and_paged(client: httpx.AsyncClient) -> None:
    email = unique_email("sessions")
    first = await register(client, email)
    logins = [
        (
            await client.post(
                "/api/v1/auth/login",
                json={"email": email, "password": PASSWORD},
                headers={"User-Agent": f"agent-{n}"},
            )
        ).json()
        for n in range(2)
    ]
    latest = logins[-1]
    page = (await client.get("/api/v1/users/me/sessions?limit=2", headers=bearer(first))).json()
    assert [s["userAgent"] for s in page["items"]] == ["agent-1", "agent-0"]
    assert [s["current"] for s in page["items"]] == [False, False]
    assert page["nextCursor"]
    rest = (
        await client.get(
            "/api/v1/users/me/sessions",
            params={"limit": 2, "cursor": page["nextCursor"]},
            headers=bearer(first),
        )
    ).json()
    assert len(rest["items"]) == 1 and rest["items"][0]["current"] is True
    assert rest["nextCursor"] is None
    by_offset = (
        await client.get("/api/v1/users/me/sessions?limit=1&offset=1", headers=bearer(latest))
    ).json()
    assert [s["userAgent"] for s in by_offset["items"]] == ["agent-0"]
    for body in (page, rest):
        assert "sessionToken" not in str(body) and "token" not in str(body).lower()


async def test_revoking_a_session_ends_its_tokens_and_others_sessions_are_404(
    client: httpx.AsyncClient,
) -> None:
    email = unique_email("revoke")
    mine = await register(client, email)
    other = (
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    ).json()
    stranger = await register(client)
    sessions = (await client.get("/api/v1/users/me/sessions", headers=bearer(mine))).json()
    other_id = next(s["id"] for s in sessions["items"] if not s["current"])

    not_theirs = await client.delete(
        f"/api/v1/users/me/sessions/{other_id}", headers=bearer(stranger)
    )
    assert not_theirs.status_code == 404
    unknown = await client.delete("/api/v1/users/me/sessions/nope", headers=bearer(mine))
    assert unknown.status_code == 404
    assert (await client.get("/api/v1/users/me", headers=bearer(other))).status_code == 200

    revoked = await client.delete(f"/api/v1/users/me/sessions/{other_id}", headers=bearer(mine))
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/users/me", headers=bearer(other))).status_code == 401
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refreshToken": other["refreshToken"]}
    )
    assert refresh.status_code == 401
    assert (await client.get("/api/v1/users/me", headers=bearer(mine))).status_code == 200


async def test_delete_me_removes_the_user_and_announces_it(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    email = unique_email("delete")
    grant = await register(client, email)
    user_id = grant["user"]["id"]
    response = await client.delete("/api/v1/users/me", headers=bearer(grant))
    assert response.status_code == 204
    assert await _row(identity_app, "SELECT id FROM users WHERE id = :id", id=user_id) is None
    assert (
        await _row(identity_app, "SELECT id FROM sessions WHERE user_id = :id", id=user_id) is None
    )
    event = await _row(
        identity_app,
        "SELECT envelope FROM outbox WHERE subject = :id AND event_type = 'identity.user.deleted'",
        id=user_id,
    )
    assert event["envelope"]["data"]["userId"] == user_id
    audit = await _row(
        identity_app,
        "SELECT user_id FROM audit_logs WHERE action = 'USER_DELETED' AND target_id = :id",
        id=user_id,
    )
    assert audit is not None and audit["user_id"] is None

    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 401
    assert (await client.get("/api/v1/users/me", headers=bearer(grant))).status_code == 401


async def test_no_response_shows_a_hash(client: httpx.AsyncClient, identity_app: FastAPI) -> None:
    email = unique_email("nohash")
    grant = await register(client, email)
    stored = await _row(
        identity_app,
        "SELECT u.password_hash, s.session_token FROM users u JOIN sessions s "
        "ON s.user_id = u.id WHERE u.id = :id",
        id=grant["user"]["id"],
    )
    responses = [
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}),
        await client.post("/api/v1/auth/refresh", json={"refreshToken": grant["refreshToken"]}),
        await client.get("/api/v1/users/me", headers=bearer(grant)),
        await client.patch("/api/v1/users/me", json={"name": "N"}, headers=bearer(grant)),
        await client.get("/api/v1/users/me/sessions", headers=bearer(grant)),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        for secret in ("password_hash", "passwordHash", "sessionToken", *stored.values()):
            assert secret not in response.text
