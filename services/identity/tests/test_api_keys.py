"""A user's API keys: /api/v1/api-keys (create, list, read, revoke, rotate)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from .api_key_helpers import auth_of, create_key, row, rows, verified_owner
from .helpers import bearer, register

SECRET_FIELDS = ("keyHash", "key_hash", "hash", "requestFingerprint", "idempotencyKey")


def _assert_no_secret(body: Any, allowed_secret: str | None = None) -> None:
    """No hash field anywhere; the only secret-shaped value is the one just issued."""
    text = str(body)
    for name in SECRET_FIELDS:
        assert name not in text
    if isinstance(body, dict) and "key" in body:
        assert body["key"] == allowed_secret


async def test_create_shows_the_secret_once_and_stores_only_its_hash(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    created = await create_key(client, owner, name="ci", scopes=["market_data:read"])
    secret = created["key"]
    assert secret.startswith("pk_") and len(secret) >= 3 + 43  # 256 random bits
    assert secret.startswith(created["keyPrefix"])
    assert created["status"] == "active"
    assert created["tier"] == "FREE"
    assert created["scopes"] == ["market_data:read"]
    _assert_no_secret(created, secret)

    stored = await row(identity_app, "SELECT * FROM api_keys WHERE id = :id", id=created["id"])
    assert secret not in str(dict(stored))
    assert stored["key_hash"] != secret and len(stored["key_hash"]) == 64

    listed = (await client.get("/api/v1/api-keys", headers=auth_of(owner))).json()
    fetched = (await client.get(f"/api/v1/api-keys/{created['id']}", headers=auth_of(owner))).json()
    for body in (listed, fetched):
        assert secret not in str(body)
        _assert_no_secret(body)
    assert [k["id"] for k in listed["items"]] == [created["id"]]
    assert "key" not in fetched

    audit = await rows(
        identity_app,
        "SELECT action FROM audit_logs WHERE target_id = :id",
        id=created["id"],
    )
    assert [a["action"] for a in audit] == ["API_KEY_CREATED"]
    event = await row(
        identity_app,
        "SELECT envelope FROM outbox WHERE subject = :id AND event_type = :type",
        type="identity.apikey.created",
        id=created["id"],
    )
    assert event["envelope"]["data"]["keyPrefix"] == created["keyPrefix"]
    assert secret not in str(event["envelope"])


async def test_a_key_of_an_unverified_owner_is_pending_verification(
    client: httpx.AsyncClient,
) -> None:
    grant = await register(client)
    created = (
        await client.post("/api/v1/api-keys", json={"name": "early"}, headers=bearer(grant))
    ).json()
    assert created["status"] == "pending_verification"


async def test_extra_fields_are_422_and_change_nothing(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    other = await verified_owner(client, identity_app)
    for extra in ({"status": "active"}, {"tier": "ENTERPRISE"}, {"userId": other["user_id"]}):
        response = await client.post(
            "/api/v1/api-keys", json={"name": "sneaky", **extra}, headers=auth_of(owner)
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    for user in (owner, other):
        found = await rows(
            identity_app, "SELECT id FROM api_keys WHERE user_id = :id", id=user["user_id"]
        )
        assert found == []


async def test_unknown_scopes_and_past_expiry_are_422(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for body in (
        {"name": "x", "scopes": ["admin:everything"]},
        {"name": "x", "expiresAt": past},
        {"name": "x", "expiresAt": "2030-01-01T00:00:00"},  # naive: no timezone
        {"name": ""},
    ):
        response = await client.post("/api/v1/api-keys", json=body, headers=auth_of(owner))
        assert response.status_code == 422, (body, response.text)


async def test_another_users_key_is_404_everywhere(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    stranger = await verified_owner(client, identity_app)
    key_id = (await create_key(client, owner))["id"]
    theirs = auth_of(stranger)
    calls = [
        client.get(f"/api/v1/api-keys/{key_id}", headers=theirs),
        client.get(f"/api/v1/api-keys/{key_id}/usage", headers=theirs),
        client.post(f"/api/v1/api-keys/{key_id}/revoke", headers=theirs),
        client.post(f"/api/v1/api-keys/{key_id}/rotate", headers=theirs),
        client.delete(f"/api/v1/api-keys/{key_id}", headers=theirs),
    ]
    for call in calls:
        response = await call
        assert response.status_code == 404, response.text
    assert (await client.get("/api/v1/api-keys", headers=theirs)).json()["items"] == []
    kept = await row(identity_app, "SELECT status FROM api_keys WHERE id = :id", id=key_id)
    assert kept["status"] == "active"


async def test_routes_need_a_signed_in_user(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/api-keys")).status_code == 401
    assert (await client.post("/api/v1/api-keys", json={"name": "x"})).status_code == 401


async def test_idempotency_key_replays_without_the_secret(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    headers = {**auth_of(owner), "Idempotency-Key": "create-ci-key-1"}
    body = {"name": "ci", "scopes": ["content:read", "market_data:read"]}
    first = await client.post("/api/v1/api-keys", json=body, headers=headers)
    again = await client.post("/api/v1/api-keys", json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["key"] and again.json()["key"] is None
    assert first.json()["key"] not in again.text

    other_body = await client.post("/api/v1/api-keys", json={"name": "other"}, headers=headers)
    assert other_body.status_code == 422, other_body.text
    keys = await rows(
        identity_app, "SELECT id FROM api_keys WHERE user_id = :id", id=owner["user_id"]
    )
    assert len(keys) == 1


async def test_revoke_is_audited_announced_and_idempotent(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    key_id = (await create_key(client, owner))["id"]
    revoked = await client.post(f"/api/v1/api-keys/{key_id}/revoke", headers=auth_of(owner))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["revokedAt"]
    again = await client.delete(f"/api/v1/api-keys/{key_id}", headers=auth_of(owner))
    assert again.status_code == 204
    events = await rows(
        identity_app,
        "SELECT envelope FROM outbox WHERE subject = :id AND event_type = :type",
        type="identity.apikey.revoked",
        id=key_id,
    )
    assert len(events) == 1
    audit = await rows(
        identity_app, "SELECT action FROM audit_logs WHERE target_id = :id", id=key_id
    )
    assert sorted(a["action"] for a in audit) == ["API_KEY_CREATED", "API_KEY_REVOKED"]


async def test_rotate_issues_a_new_key_and_revokes_the_old_one_at_once(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    old = await create_key(
        client, owner, name="deploy", scopes=["content:write"], expiresAt=expires.isoformat()
    )
    headers = {**auth_of(owner), "Idempotency-Key": "rotate-1"}
    rotated = await client.post(f"/api/v1/api-keys/{old['id']}/rotate", headers=headers)
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["id"] != old["id"] and new["key"] and new["key"] != old["key"]
    assert (new["name"], new["scopes"]) == ("deploy", ["content:write"])
    assert datetime.fromisoformat(new["expiresAt"]) == expires
    old_now = (await client.get(f"/api/v1/api-keys/{old['id']}", headers=auth_of(owner))).json()
    assert old_now["status"] == "revoked"

    replay = await client.post(f"/api/v1/api-keys/{old['id']}/rotate", headers=headers)
    assert replay.status_code == 200 and replay.json()["id"] == new["id"]
    assert replay.json()["key"] is None
    refused = await client.post(f"/api/v1/api-keys/{old['id']}/rotate", headers=auth_of(owner))
    assert refused.status_code == 409
    audit = await rows(
        identity_app, "SELECT action, metadata FROM audit_logs WHERE target_id = :id", id=old["id"]
    )
    rotations = [a for a in audit if a["action"] == "API_KEY_ROTATED"]
    assert rotations[0]["metadata"]["replacedBy"] == new["id"]


async def test_list_is_paged_newest_first_and_filters_by_status(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    ids = [(await create_key(client, owner, name=f"k{n}"))["id"] for n in range(3)]
    await client.post(f"/api/v1/api-keys/{ids[0]}/revoke", headers=auth_of(owner))
    first = (await client.get("/api/v1/api-keys?limit=2", headers=auth_of(owner))).json()
    assert [k["id"] for k in first["items"]] == [ids[2], ids[1]]
    rest = (
        await client.get(
            f"/api/v1/api-keys?limit=2&cursor={first['nextCursor']}", headers=auth_of(owner)
        )
    ).json()
    assert [k["id"] for k in rest["items"]] == [ids[0]] and rest["nextCursor"] is None
    revoked = (await client.get("/api/v1/api-keys?status=revoked", headers=auth_of(owner))).json()
    assert [k["id"] for k in revoked["items"]] == [ids[0]]


async def test_keys_per_user_are_limited(client: httpx.AsyncClient, identity_app: FastAPI) -> None:
    owner = await verified_owner(client, identity_app)
    limit = identity_app.state.api_key_policy.keys_per_user
    for n in range(limit):
        await create_key(client, owner, name=f"k{n}")
    response = await client.post(
        "/api/v1/api-keys", json={"name": "one too many"}, headers=auth_of(owner)
    )
    assert response.status_code == 409


async def test_deleting_the_owner_announces_their_keys_revoked(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    live = await create_key(client, owner, name="live")
    gone = await create_key(client, owner, name="gone")
    await client.post(f"/api/v1/api-keys/{gone['id']}/revoke", headers=auth_of(owner))
    workspace = await client.post(
        "/api/v1/trials",
        json={"name": "T", "slug": f"del-{live['id'][:8]}"},
        headers=auth_of(owner),
    )
    trial_key = await client.post(
        f"/api/v1/trials/{workspace.json()['id']}/api-keys", json={}, headers=auth_of(owner)
    )
    assert (await client.delete("/api/v1/users/me", headers=auth_of(owner))).status_code == 204
    for key_id, announcements in ((live["id"], 1), (gone["id"], 1), (trial_key.json()["id"], 1)):
        found = await rows(
            identity_app,
            "SELECT envelope FROM outbox WHERE subject = :id AND event_type = :type",
            id=key_id,
            type="identity.apikey.revoked",
        )
        assert len(found) == announcements, key_id  # the revoked one was announced at revoke


async def test_no_secret_is_stored_anywhere_in_the_schema(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    """A dump of every identity table holds none of the secrets handed out."""
    owner = await verified_owner(client, identity_app)
    created = await create_key(client, owner)
    rotated = (
        await client.post(f"/api/v1/api-keys/{created['id']}/rotate", headers=auth_of(owner))
    ).json()
    workspace = (
        await client.post(
            "/api/v1/trials",
            json={"name": "T", "slug": f"dump-{created['id'][:8]}"},
            headers=auth_of(owner),
        )
    ).json()
    trial = (
        await client.post(
            f"/api/v1/trials/{workspace['id']}/api-keys", json={}, headers=auth_of(owner)
        )
    ).json()
    secrets = [created["key"], rotated["key"], trial["key"]]
    tables = await rows(
        identity_app,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'identity'",
    )
    assert len(tables) > 10
    for table in tables:
        name = table["tablename"]
        dump = await rows(identity_app, f'SELECT t::text AS line FROM identity."{name}" t')
        text = "\n".join(r["line"] for r in dump)
        for secret in secrets:
            assert secret not in text, name
            assert secret.split("_", 1)[1] not in text, name


async def test_concurrent_retries_with_one_idempotency_key_make_one_key(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    headers = {**auth_of(owner), "Idempotency-Key": "burst"}
    answers = await asyncio.gather(
        *(
            client.post("/api/v1/api-keys", json={"name": "burst"}, headers=headers)
            for _ in range(5)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert [bool(a.json()["key"]) for a in answers].count(True) == 1
    keys = await rows(
        identity_app, "SELECT id FROM api_keys WHERE user_id = :id", id=owner["user_id"]
    )
    assert len(keys) == 1
