"""API keys across services: revocation reaches a consumer's cache, plans set the tier, usage
reported by a consumer reaches identity's usage route. All over the real broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from billing.config import BillingSettings
from lib_auth import API_KEY_VERIFY_PATH, INTERNAL_TOKEN_HEADER
from lib_contracts.billing import SubscriptionUpdated
from lib_database import Database, UnitOfWork

from .conftest import active_key, wait_until

INTERNAL = {INTERNAL_TOKEN_HEADER: "internal-dev-token"}


async def test_a_revoked_key_stops_verifying_within_a_second_in_a_consumers_cache(
    identity: httpx.AsyncClient,
    identity_app: FastAPI,
    identity_worker: Database,
    content: httpx.AsyncClient,
    content_app: FastAPI,
) -> None:
    key, owner = await active_key(identity, identity_app)
    headers = {"X-API-Key": key["key"]}
    first = await content.get("/api/v1/probe", headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["keyId"] == key["id"]
    # Cached for a minute: from now on only the revocation event can make it fail.
    before = content_app.state.identity_calls.requests
    assert (await content.get("/api/v1/probe", headers=headers)).status_code == 200
    assert content_app.state.identity_calls.requests == before  # answered from the cache
    assert await content_app.state.api_key_revocations.listening.wait() is True

    revoked = await identity.post(f"/api/v1/api-keys/{key['id']}/revoke", headers=owner)
    assert revoked.status_code == 200

    async def refused() -> bool:
        return (await content.get("/api/v1/probe", headers=headers)).status_code == 401

    took = await wait_until(refused, within_s=1.0, what="the consumer to refuse the revoked key")
    assert took < 1.0
    answer = (await content.get("/api/v1/probe", headers=headers)).json()
    assert "REVOKED" in answer["detail"]


async def emit_subscription(
    billing: tuple[Database, BillingSettings], user_id: str, **fields: Any
) -> SubscriptionUpdated:
    database, settings = billing
    event = SubscriptionUpdated(
        **{
            "subscription_id": "sub_" + user_id,
            "user_id": user_id,
            "updated_at": datetime.now(UTC),
            "plan_id": "plan",
            "plan_name": "Plan",
            "status": "ACTIVE",
            "tokens_per_month": 0,
            "api_access": True,
            **fields,
        }
    )
    async with UnitOfWork(database, source=settings.service_name) as uow:
        uow.emit(event, subject=event.subscription_id)
        await uow.commit()
    return event


async def key_tier(identity: httpx.AsyncClient, secret: str) -> str:
    answer = await identity.post(API_KEY_VERIFY_PATH, json={"key": secret}, headers=INTERNAL)
    tier: str = answer.json()["tier"]
    return tier


async def handled(identity_app: FastAPI, event_id: uuid.UUID) -> bool:
    async with identity_app.state.database.engine.connect() as conn:
        found = await conn.execute(
            text("SELECT 1 FROM inbox WHERE consumer = 'identity.plans' AND event_id = :id"),
            {"id": event_id},
        )
        return found.first() is not None


async def test_the_tier_follows_billings_subscription_events_in_revision_order(
    identity: httpx.AsyncClient,
    identity_app: FastAPI,
    identity_worker: Database,
    billing_relay: tuple[Database, BillingSettings],
) -> None:
    key, owner = await active_key(identity, identity_app)
    user_id = (await identity.get("/api/v1/users/me", headers=owner)).json()["id"]
    assert await key_tier(identity, key["key"]) == "FREE"

    await emit_subscription(billing_relay, user_id, revision=2, tier="PRO")

    async def is_pro() -> bool:
        return await key_tier(identity, key["key"]) == "PRO"

    await wait_until(is_pro, within_s=20, what="the key to become PRO")

    # A late, older snapshot changes nothing...
    stale = await emit_subscription(billing_relay, user_id, revision=1, tier="BASIC")
    envelope_ids = await outbox_ids(billing_relay[0], stale.subscription_id)

    async def stale_seen() -> bool:
        return all([await handled(identity_app, i) for i in envelope_ids])

    await wait_until(stale_seen, within_s=20, what="the stale event to be consumed")
    assert await key_tier(identity, key["key"]) == "PRO"
    # ...new keys get the user's tier, and a cancelled plan brings every key back to FREE.
    second = await identity.post("/api/v1/api-keys", json={"name": "two"}, headers=owner)
    assert second.json()["tier"] == "PRO"
    await emit_subscription(billing_relay, user_id, revision=3, tier="PRO", status="CANCELED")

    async def both_free() -> bool:
        tiers = {await key_tier(identity, s) for s in (key["key"], second.json()["key"])}
        return tiers == {"FREE"}

    await wait_until(both_free, within_s=20, what="the keys to fall back to FREE")


async def outbox_ids(database: Database, subject: str) -> list[uuid.UUID]:
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT id FROM outbox WHERE subject = :s ORDER BY position"), {"s": subject}
        )
        return [row[0] for row in rows]


async def test_usage_reported_by_a_consumer_reaches_the_usage_route(
    identity: httpx.AsyncClient,
    identity_app: FastAPI,
    identity_worker: Database,
    content: httpx.AsyncClient,
    content_app: FastAPI,
    workers: list[Any],
    service_settings: Any,
) -> None:
    from content.config import ContentSettings

    from .conftest import start_worker

    await start_worker(workers, service_settings(ContentSettings), [])  # content's relay
    key, owner = await active_key(identity, identity_app)
    headers = {"X-API-Key": key["key"]}
    statuses = [200] * 7 + [404, 500, 429]
    for status in statuses:
        response = await content.get(f"/api/v1/probe?status={status}", headers=headers)
        assert response.status_code == status
    missing = await content.get("/api/v1/probe", headers={"X-API-Key": "pk_unknown"})
    assert missing.status_code == 401  # not a key's call: not recorded
    recorder = content_app.state.api_usage_recorder
    assert recorder.buffered == len(statuses)
    assert await recorder.flush() == len(statuses)  # what its timer does every few seconds

    async def usage() -> dict[str, Any]:
        response = await identity.get(f"/api/v1/api-keys/{key['id']}/usage?days=7", headers=owner)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def all_stored() -> bool:
        return (await usage())["totalCalls"] == len(statuses)

    await wait_until(all_stored, within_s=20, what="the calls to reach identity")
    body = await usage()
    assert len(body["days"]) == 7
    today = body["days"][-1]
    assert today["day"] == datetime.now(UTC).date().isoformat()
    assert (today["calls"], today["errors"]) == (10, 3)
    assert today["errorRate"] == 0.3 and body["errorRate"] == 0.3
    assert today["p50LatencyMs"] is not None and today["p95LatencyMs"] >= today["p50LatencyMs"]
    assert all(d["calls"] == 0 for d in body["days"][:-1])
    listed = (await identity.get(f"/api/v1/api-keys/{key['id']}", headers=owner)).json()
    assert listed["lastUsedAt"] is not None
