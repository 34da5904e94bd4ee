"""The admins' audit log route: filters, newest-first paging, and who may read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from .helpers import PASSWORD, bearer, register, unique_email

AUDIT_LOGS = "/api/v1/admin/audit-logs"


async def _signed_in_admin(client: httpx.AsyncClient, app: FastAPI) -> dict[str, Any]:
    email = unique_email("auditor")
    registered = await register(client, email)
    async with app.state.database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET role = 'ADMIN' WHERE id = :id"), {"id": registered["user"]["id"]}
        )
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _user_with_history(client: httpx.AsyncClient) -> str:
    """A user with, oldest first, a failed login, a login and a logout in the audit log."""
    email = unique_email("audited")
    registered = await register(client, email)
    login = "/api/v1/auth/login"
    assert (
        await client.post(login, json={"email": email, "password": "x" * 12})
    ).status_code == 401
    signed_in = await client.post(login, json={"email": email, "password": PASSWORD})
    assert signed_in.status_code == 200
    logout = await client.post(
        "/api/v1/auth/logout", json={"refreshToken": signed_in.json()["refreshToken"]}
    )
    assert logout.status_code == 204
    user_id: str = registered["user"]["id"]
    return user_id


def _actions(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [entry["action"] for entry in response.json()["items"]]


async def test_a_user_may_not_read_the_audit_log(client: httpx.AsyncClient) -> None:
    user = await register(client)
    response = await client.get(AUDIT_LOGS, headers=bearer(user))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_admins_filter_the_audit_log_by_user_and_action_newest_first(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    admin = await _signed_in_admin(client, identity_app)
    user_id = await _user_with_history(client)
    await _user_with_history(client)  # someone else's rows, filtered out

    everything = await client.get(AUDIT_LOGS, params={"userId": user_id}, headers=bearer(admin))
    assert _actions(everything) == ["LOGOUT", "LOGIN", "LOGIN_FAILED"]
    entry = everything.json()["items"][2]
    assert entry["userId"] == user_id
    assert entry["ipAddress"] and entry["createdAt"]
    assert entry["metadata"]["email"].startswith("audited-")

    logins = await client.get(
        AUDIT_LOGS, params={"userId": user_id, "action": "LOGIN"}, headers=bearer(admin)
    )
    assert _actions(logins) == ["LOGIN"]

    first = await client.get(
        AUDIT_LOGS, params={"userId": user_id, "limit": 2}, headers=bearer(admin)
    )
    assert _actions(first) == ["LOGOUT", "LOGIN"]
    rest = await client.get(
        AUDIT_LOGS,
        params={"userId": user_id, "limit": 2, "cursor": first.json()["nextCursor"]},
        headers=bearer(admin),
    )
    assert _actions(rest) == ["LOGIN_FAILED"]
    assert rest.json()["nextCursor"] is None

    unknown_action = await client.get(
        AUDIT_LOGS, params={"action": "DANCED"}, headers=bearer(admin)
    )
    assert unknown_action.status_code == 422


async def test_admins_filter_the_audit_log_by_time(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    admin = await _signed_in_admin(client, identity_app)
    user_id = await _user_with_history(client)
    async with identity_app.state.database.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE audit_logs SET created_at = created_at - interval '1 day' "
                "WHERE user_id = :id AND action = 'LOGIN_FAILED'"
            ),
            {"id": user_id},
        )
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    recent = await client.get(
        AUDIT_LOGS, params={"userId": user_id, "since": an_hour_ago}, headers=bearer(admin)
    )
    assert _actions(recent) == ["LOGOUT", "LOGIN"]
    older = await client.get(
        AUDIT_LOGS, params={"userId": user_id, "until": an_hour_ago}, headers=bearer(admin)
    )
    assert _actions(older) == ["LOGIN_FAILED"]
    naive = await client.get(
        AUDIT_LOGS, params={"since": "2026-01-01T00:00:00"}, headers=bearer(admin)
    )
    assert naive.status_code == 422
