"""Admin routes over users: search, role changes and who may make them."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from .helpers import PASSWORD, bearer, register, unique_email


async def _execute(app: FastAPI, sql: str, **params: Any) -> None:
    async with app.state.database.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def _scalar(app: FastAPI, sql: str, **params: Any) -> Any:
    async with app.state.database.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def _signed_in_as(client: httpx.AsyncClient, app: FastAPI, role: str) -> dict[str, Any]:
    """A new user given `role` in the database, then logged in so their token carries it."""
    email = unique_email(role.lower())
    registered = await register(client, email)
    await _execute(
        app, "UPDATE users SET role = :role WHERE id = :id", role=role, id=registered["user"]["id"]
    )
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _claims(access_token: str) -> dict[str, Any]:
    payload = access_token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


async def test_a_user_may_not_use_admin_routes(client: httpx.AsyncClient) -> None:
    user = await register(client)
    other = await register(client)
    search = await client.get("/api/v1/admin/users", headers=bearer(user))
    assert search.status_code == 403
    assert search.headers["content-type"].startswith("application/problem+json")
    change = await client.patch(
        f"/api/v1/admin/users/{other['user']['id']}/role",
        json={"role": "ADMIN"},
        headers=bearer(user),
    )
    assert change.status_code == 403
    assert (await client.get("/api/v1/admin/users")).status_code == 401


async def test_an_admin_searches_by_email_or_name_newest_first_in_pages(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    admin = await _signed_in_as(client, identity_app, "ADMIN")
    tag = uuid.uuid4().hex[:8]
    first = await register(client, unique_email(f"found-{tag}"))
    second = await register(client, name=f"Grace {tag.upper()}")
    third = await register(client, unique_email(f"FOUND-{tag}"))
    await register(client, unique_email("unrelated"))

    page = await client.get(
        "/api/v1/admin/users", params={"query": tag.upper(), "limit": 2}, headers=bearer(admin)
    )
    assert page.status_code == 200, page.text
    body = page.json()
    assert [u["id"] for u in body["items"]] == [third["user"]["id"], second["user"]["id"]]
    assert body["nextCursor"]
    rest = await client.get(
        "/api/v1/admin/users",
        params={"query": tag, "limit": 2, "cursor": body["nextCursor"]},
        headers=bearer(admin),
    )
    assert [u["id"] for u in rest.json()["items"]] == [first["user"]["id"]]
    assert rest.json()["nextCursor"] is None
    assert "hash" not in page.text.lower() and "password" not in page.text.lower()

    admins = await client.get(
        "/api/v1/admin/users", params={"role": "ADMIN", "limit": 100}, headers=bearer(admin)
    )
    assert admin["user"]["id"] in {u["id"] for u in admins.json()["items"]}
    assert {u["role"] for u in admins.json()["items"]} == {"ADMIN"}
    # A wildcard in the query is taken literally.
    wildcard = await client.get(
        "/api/v1/admin/users", params={"query": f"%{tag}"}, headers=bearer(admin)
    )
    assert wildcard.json()["items"] == []
    bad_cursor = await client.get(
        "/api/v1/admin/users", params={"cursor": "not-a-cursor"}, headers=bearer(admin)
    )
    assert bad_cursor.status_code == 400


async def test_only_a_super_admin_grants_or_revokes_admin_roles(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    admin = await _signed_in_as(client, identity_app, "ADMIN")
    other_admin = await _signed_in_as(client, identity_app, "ADMIN")
    user = await register(client)

    def role_of(target: dict[str, Any]) -> str:
        return f"/api/v1/admin/users/{target['user']['id']}/role"

    for target, role in [(user, "SUPER_ADMIN"), (user, "ADMIN"), (other_admin, "USER")]:
        refused = await client.patch(role_of(target), json={"role": role}, headers=bearer(admin))
        assert refused.status_code == 403, (target["user"]["id"], role)
    own = await client.patch(role_of(admin), json={"role": "USER"}, headers=bearer(admin))
    assert own.status_code == 403
    unknown = await client.patch(
        f"/api/v1/admin/users/{uuid.uuid4()}/role", json={"role": "USER"}, headers=bearer(admin)
    )
    assert unknown.status_code == 404
    extra = await client.patch(
        role_of(user), json={"role": "USER", "emailVerified": True}, headers=bearer(admin)
    )
    assert extra.status_code == 422
    assert (
        await client.patch(role_of(user), json={"role": "OWNER"}, headers=bearer(admin))
    ).status_code == 422

    super_admin = await _signed_in_as(client, identity_app, "SUPER_ADMIN")
    granted = await client.patch(
        role_of(user), json={"role": "SUPER_ADMIN"}, headers=bearer(super_admin)
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["role"] == "SUPER_ADMIN"
    demoted = await client.patch(
        role_of(other_admin), json={"role": "USER"}, headers=bearer(super_admin)
    )
    assert demoted.json()["role"] == "USER"


async def test_a_role_change_is_announced_audited_and_in_the_next_token(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    super_admin = await _signed_in_as(client, identity_app, "SUPER_ADMIN")
    user = await register(client)
    user_id = user["user"]["id"]
    assert _claims(user["accessToken"])["roles"] == ["USER"]

    changed = await client.patch(
        f"/api/v1/admin/users/{user_id}/role", json={"role": "ADMIN"}, headers=bearer(super_admin)
    )
    assert changed.status_code == 200, changed.text

    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refreshToken": user["refreshToken"]}
    )
    assert refreshed.status_code == 200
    assert _claims(refreshed.json()["accessToken"])["roles"] == ["ADMIN"]
    assert (
        await client.get("/api/v1/admin/users", headers=bearer(refreshed.json()))
    ).status_code == 200

    envelope = await _scalar(
        identity_app,
        "SELECT envelope FROM outbox WHERE subject = :id AND event_type = :type",
        id=user_id,
        type="identity.user.updated",
    )
    assert envelope["data"]["role"] == "ADMIN"
    assert envelope["data"]["revision"] == 2
    audit = await _scalar(
        identity_app,
        "SELECT json_build_object('actor', user_id, 'metadata', metadata) FROM audit_logs "
        "WHERE action = 'ROLE_CHANGED' AND target_id = :id",
        id=user_id,
    )
    assert audit == {
        "actor": super_admin["user"]["id"],
        "metadata": {"old_role": "USER", "new_role": "ADMIN"},
    }
