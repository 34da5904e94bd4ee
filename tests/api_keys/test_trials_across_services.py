"""Trial workspaces across services: an expired trial's key stops working in a consumer whose
cache held it, and a paid plan from billing converts the trial. Over the real broker."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from billing.config import BillingSettings
from identity.domain.trials import expire_due_trials
from lib_database import Database
from lib_runtime.worker_cli import uow_factory

from .conftest import active_key, wait_until
from .test_api_keys_across_services import emit_subscription


async def open_trial_with_key(
    identity: httpx.AsyncClient, owner: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    workspace = await identity.post(
        "/api/v1/trials",
        json={"name": "Trial", "slug": f"t-{uuid.uuid4().hex[:12]}"},
        headers=owner,
    )
    assert workspace.status_code == 201, workspace.text
    key = await identity.post(
        f"/api/v1/trials/{workspace.json()['id']}/api-keys", json={}, headers=owner
    )
    assert key.status_code == 201, key.text
    return workspace.json(), key.json()


async def test_an_expired_trials_key_stops_working_in_a_consumer_at_once(
    identity: httpx.AsyncClient,
    identity_app: FastAPI,
    identity_worker: Database,
    content: httpx.AsyncClient,
    content_app: FastAPI,
) -> None:
    _, owner = await active_key(identity, identity_app)
    workspace, key = await open_trial_with_key(identity, owner)
    headers = {"X-API-Key": key["key"]}
    ok = await content.get("/api/v1/probe", headers=headers)
    assert ok.status_code == 200 and ok.json()["tier"] == "STANDARD"
    await content_app.state.api_key_revocations.listening.wait()

    async with identity_app.state.database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE trial_workspaces SET expires_at = now() WHERE id = :id"),
            {"id": workspace["id"]},
        )
    # The consumer still holds the cached answer (a minute long) until the job has run.
    assert (await content.get("/api/v1/probe", headers=headers)).status_code == 200
    factory = uow_factory(identity_app.state.database, identity_app.state.settings)
    assert await expire_due_trials(factory) >= 1

    async def refused() -> bool:
        return (await content.get("/api/v1/probe", headers=headers)).status_code == 401

    took = await wait_until(refused, within_s=1.0, what="the expired trial's key to be refused")
    assert took < 1.0
    detail = (await content.get("/api/v1/probe", headers=headers)).json()["detail"]
    assert "EXPIRED" in detail


async def test_a_paid_plan_from_billing_converts_the_trial(
    identity: httpx.AsyncClient,
    identity_app: FastAPI,
    identity_worker: Database,
    billing_relay: tuple[Database, BillingSettings],
) -> None:
    _, owner = await active_key(identity, identity_app)
    user_id = (await identity.get("/api/v1/users/me", headers=owner)).json()["id"]
    workspace, _ = await open_trial_with_key(identity, owner)
    await emit_subscription(billing_relay, user_id, revision=1, tier="STARTER")

    async def converted() -> bool:
        found = await identity.get(f"/api/v1/trials/{workspace['id']}", headers=owner)
        return bool(found.json()["status"] == "converted")

    await wait_until(converted, within_s=20, what="the trial to be converted")
