"""The internal verify route: one answer per code, the rate limits, the internal guard."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from identity.config import IdentitySettings
from identity.main import create_app
from lib_auth import API_KEY_VERIFY_PATH

from .api_key_helpers import INTERNAL, auth_of, create_key, execute, row, verified_owner, verify
from .helpers import bearer, register


async def test_a_valid_key_is_answered_with_its_owner_tier_scopes_and_budget(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    created = await create_key(client, owner, scopes=["market_data:read", "content:read"])
    answer = await verify(client, created["key"])
    assert answer["valid"] is True and answer["code"] == "VALID"
    assert answer["keyId"] == created["id"]
    assert answer["ownerId"] == owner["user_id"]
    assert answer["tier"] == "FREE"
    assert answer["scopes"] == ["market_data:read", "content:read"]
    limits = identity_app.state.settings.rate_limit_for("FREE")
    assert answer["rateLimit"]["limit"] == limits.per_minute
    assert answer["rateLimit"]["remaining"] == limits.per_minute - 1
    assert datetime.fromisoformat(answer["rateLimit"]["reset"]) > datetime.now(UTC)

    used = await row(
        identity_app, "SELECT last_used_at FROM api_keys WHERE id = :id", id=created["id"]
    )
    assert used["last_used_at"] is not None
    await verify(client, created["key"])
    again = await row(
        identity_app, "SELECT last_used_at FROM api_keys WHERE id = :id", id=created["id"]
    )
    assert again["last_used_at"] == used["last_used_at"]  # not rewritten within a minute


async def test_required_scopes_the_key_lacks_are_insufficient_permissions(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    key = (await create_key(client, owner, scopes=["market_data:read"]))["key"]
    assert (await verify(client, key, ["market_data:read"]))["code"] == "VALID"
    refused = await verify(client, key, ["market_data:read", "market_data:export"])
    assert refused["valid"] is False
    assert refused["code"] == "INSUFFICIENT_PERMISSIONS"
    assert refused["scopes"] == ["market_data:read"]


@pytest.mark.parametrize(
    "key",
    ["pk_" + "A" * 43, "tk_" + "B" * 43, "not-a-key", "pk_", "xx_abcdef"],
)
async def test_unknown_keys_are_not_found(client: httpx.AsyncClient, key: str) -> None:
    answer = await verify(client, key)
    assert answer == {
        "valid": False,
        "code": "NOT_FOUND",
        "keyId": None,
        "ownerId": None,
        "tier": None,
        "scopes": [],
        "rateLimit": None,
    }


async def test_revoked_expired_and_pending_keys_say_why(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    revoked = await create_key(client, owner, name="revoked")
    await client.post(f"/api/v1/api-keys/{revoked['id']}/revoke", headers=auth_of(owner))
    expired = await create_key(client, owner, name="expired")
    await execute(
        identity_app,
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = :id",
        id=expired["id"],
    )
    unverified = await register(client)
    pending = (
        await client.post("/api/v1/api-keys", json={"name": "p"}, headers=bearer(unverified))
    ).json()
    for key, code in (
        (revoked, "REVOKED"),
        (expired, "EXPIRED"),
        (pending, "PENDING_VERIFICATION"),
    ):
        answer = await verify(client, key["key"])
        assert (answer["valid"], answer["code"]) == (False, code), answer
        assert answer["keyId"] == key["id"]
        assert answer["rateLimit"] is None
    counted = await row(
        identity_app,
        "SELECT count(*) AS n FROM api_key_rate_windows WHERE api_key_id IN (:a, :b, :c)",
        a=revoked["id"],
        b=expired["id"],
        c=pending["id"],
    )
    assert counted["n"] == 0  # refused keys are not counted


async def test_the_internal_route_refuses_outsiders_and_end_user_credentials(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    key = (await create_key(client, owner))["key"]
    body = {"key": key}
    assert (await client.post(API_KEY_VERIFY_PATH, json=body)).status_code == 403
    wrong = {"X-Internal-Token": "guess"}
    assert (await client.post(API_KEY_VERIFY_PATH, json=body, headers=wrong)).status_code == 403
    with_user = {**INTERNAL, **auth_of(owner)}
    assert (await client.post(API_KEY_VERIFY_PATH, json=body, headers=with_user)).status_code == 403
    with_key = {**INTERNAL, "X-API-Key": key}
    assert (await client.post(API_KEY_VERIFY_PATH, json=body, headers=with_key)).status_code == 403


@pytest.fixture
async def two_replicas(
    identity_settings: Callable[..., IdentitySettings],
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Two identity apps (two engines, as two replicas) on one database, with small limits."""
    limits = {"FREE": {"per_minute": 5, "per_day": 8}}
    apps = [create_app(identity_settings(api_key_rate_limits=limits)) for _ in range(2)]
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://identity")
                )
            )
        yield clients


async def test_rate_limits_hold_across_two_replicas(
    two_replicas: list[httpx.AsyncClient],
) -> None:
    first, second = two_replicas
    grant = await register(first)
    user_id = grant["user"]["id"]
    created = (
        await first.post("/api/v1/api-keys", json={"name": "shared"}, headers=bearer(grant))
    ).json()
    app = first._transport.app  # type: ignore[attr-defined]
    await execute(app, "UPDATE api_keys SET status = 'active' WHERE user_id = :id", id=user_id)

    answers = [await verify(replica, created["key"]) for replica in (first, second) * 4]
    codes = [a["code"] for a in answers]
    # 5 per minute in total, whichever replica answers: the 6th call on is limited.
    assert codes == ["VALID"] * 5 + ["RATE_LIMITED"] * 3, codes
    assert [a["rateLimit"]["remaining"] for a in answers[:5]] == [4, 3, 2, 1, 0]
    limited = answers[5]["rateLimit"]
    assert limited["limit"] == 5 and limited["remaining"] == 0
    reset = datetime.fromisoformat(limited["reset"])
    assert 0 < (reset - datetime.now(UTC)).total_seconds() <= 61


async def test_the_day_limit_refuses_until_the_next_utc_day(
    identity_settings: Callable[..., IdentitySettings],
) -> None:
    limits = {"FREE": {"per_minute": 100, "per_day": 3}}
    app = create_app(identity_settings(api_key_rate_limits=limits))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            owner = await verified_owner(client, app)
            key = (await create_key(client, owner))["key"]
            answers = [await verify(client, key) for _ in range(4)]
    assert [a["code"] for a in answers] == ["VALID"] * 3 + ["RATE_LIMITED"]
    assert answers[2]["rateLimit"] == {**answers[2]["rateLimit"], "limit": 3, "remaining": 0}
    reset = datetime.fromisoformat(answers[3]["rateLimit"]["reset"])
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    assert reset == datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC)


async def test_the_cost_counts_calls_a_consumer_answered_from_its_cache(
    two_replicas: list[httpx.AsyncClient],
) -> None:
    client = two_replicas[0]
    grant = await register(client)
    created = (
        await client.post("/api/v1/api-keys", json={"name": "c"}, headers=bearer(grant))
    ).json()
    app = client._transport.app  # type: ignore[attr-defined]
    await execute(app, "UPDATE api_keys SET status = 'active' WHERE id = :id", id=created["id"])

    async def ask(cost: int) -> dict[str, Any]:
        response = await client.post(
            API_KEY_VERIFY_PATH, json={"key": created["key"], "cost": cost}, headers=INTERNAL
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    first = await ask(3)
    assert (first["code"], first["rateLimit"]["remaining"]) == ("VALID", 2)
    second = await ask(3)  # 6 calls against a limit of 5
    assert second["code"] == "RATE_LIMITED"
    for cost in (0, -1, 2_000_000):
        refused = await client.post(
            API_KEY_VERIFY_PATH, json={"key": created["key"], "cost": cost}, headers=INTERNAL
        )
        assert refused.status_code == 422


async def test_a_malformed_verify_request_is_a_422_problem(client: httpx.AsyncClient) -> None:
    # Let the app finish starting (its broker link): stopping an app whose aio-pika connection
    # attempt is still under way leaves a reconnect task the test's event loop never ends.
    for _ in range(100):
        if (await client.get("/readyz")).status_code == 200:
            break
        await asyncio.sleep(0.1)
    for body in (b"not json", b'{"key": ""}', b'{"key": "pk_x", "cost": 0}', b"{}"):
        response = await client.post(
            API_KEY_VERIFY_PATH,
            content=body,
            headers={**INTERNAL, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "pk_x" not in response.text  # the rejected input is not echoed
    openapi = (await client.get("/openapi.json")).json()
    operation = openapi["paths"][API_KEY_VERIFY_PATH]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"key", "requiredScopes", "cost"} <= set(schema["properties"])
    assert "200" in operation["responses"]
