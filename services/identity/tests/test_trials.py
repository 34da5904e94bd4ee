"""Trial workspaces (seed 001) and their API keys: open, list, cancel, expire, convert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from identity.domain.trials import expire_due_trials
from identity.events.api_keys import on_subscription_updated
from identity.jobs import JOBS
from lib_contracts.billing import SubscriptionUpdated
from lib_messaging.envelope import Envelope
from lib_runtime.worker_cli import uow_factory

from .api_key_helpers import (
    auth_of,
    execute,
    open_trial,
    row,
    rows,
    slug,
    trial_key,
    verified_owner,
    verify,
)


async def events_of(app: FastAPI, subject: str) -> list[str]:
    found = await rows(
        app, "SELECT event_type FROM outbox WHERE subject = :s ORDER BY position", s=subject
    )
    return [r["event_type"] for r in found]


async def test_a_trial_opens_active_for_the_configured_days(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    opened = await open_trial(client, owner, tier="enterprise")
    assert (opened["status"], opened["tier"]) == ("active", "enterprise")
    lasts = datetime.fromisoformat(opened["expiresAt"]) - datetime.fromisoformat(
        opened["createdAt"]
    )
    assert abs(lasts - timedelta(days=identity_app.state.settings.trial_days)) < timedelta(
        seconds=1
    )
    assert opened["convertedAt"] is None and opened["cancelledAt"] is None
    assert await events_of(identity_app, opened["id"]) == ["identity.trial.created"]
    fetched = await client.get(f"/api/v1/trials/{opened['id']}", headers=auth_of(owner))
    assert fetched.json() == opened


async def test_bad_trial_requests_are_422_and_change_nothing(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    now = datetime.now(UTC)
    bad_bodies = [
        {"status": "converted"},
        {"ownerId": "someone"},
        {"convertedAt": now.isoformat()},
        {"tier": "free"},
        {"slug": "Not A Slug"},
        {"slug": "-edge"},
        {"expiresAt": (now - timedelta(minutes=1)).isoformat()},
        {"expiresAt": (now + timedelta(days=31)).isoformat()},
    ]
    for extra in bad_bodies:
        response = await client.post(
            "/api/v1/trials",
            json={"name": "Acme", "slug": slug(), **extra},
            headers=auth_of(owner),
        )
        assert response.status_code == 422, (extra, response.text)
    listed = (await client.get("/api/v1/trials", headers=auth_of(owner))).json()
    assert listed["items"] == []


async def test_slugs_are_unique_and_active_trials_are_limited(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    other = await verified_owner(client, identity_app)
    first = await open_trial(client, owner)
    taken = await client.post(
        "/api/v1/trials", json={"name": "Copy", "slug": first["slug"]}, headers=auth_of(other)
    )
    assert taken.status_code == 409
    second = await client.post(
        "/api/v1/trials", json={"name": "Two", "slug": slug()}, headers=auth_of(owner)
    )
    assert second.status_code == 409  # one active trial at a time
    await client.post(f"/api/v1/trials/{first['id']}/cancel", headers=auth_of(owner))
    await open_trial(client, owner)  # allowed once the first one ended


async def test_idempotency_key_replays_the_workspace(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    headers = {**auth_of(owner), "Idempotency-Key": "trial-1"}
    body = {"name": "Acme", "slug": slug()}
    first = await client.post("/api/v1/trials", json=body, headers=headers)
    again = await client.post("/api/v1/trials", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    changed = await client.post("/api/v1/trials", json={**body, "name": "B"}, headers=headers)
    assert changed.status_code == 422


async def test_another_users_workspace_and_keys_are_404(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    stranger = auth_of(await verified_owner(client, identity_app))
    workspace = await open_trial(client, owner)
    key = await trial_key(client, owner, workspace["id"])
    base = f"/api/v1/trials/{workspace['id']}"
    for call in (
        client.get(base, headers=stranger),
        client.post(f"{base}/cancel", headers=stranger),
        client.get(f"{base}/api-keys", headers=stranger),
        client.post(f"{base}/api-keys", json={}, headers=stranger),
        client.post(f"{base}/api-keys/{key['id']}/revoke", headers=stranger),
    ):
        response = await call
        assert response.status_code == 404, response.text
    assert (await client.get("/api/v1/trials", headers=stranger)).json()["items"] == []
    assert (await verify(client, key["key"]))["code"] == "VALID"


async def test_trial_keys_verify_while_active_and_are_listed_without_secrets(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    workspace = await open_trial(client, owner)
    key = await trial_key(client, owner, workspace["id"])
    assert key["key"].startswith("tk_") and key["key"].startswith(key["keyPrefix"])
    answer = await verify(client, key["key"], ["content:read"])
    assert (answer["valid"], answer["code"], answer["tier"]) == (True, "VALID", "STANDARD")
    assert answer["ownerId"] == owner["user_id"] and answer["keyId"] == key["id"]
    listed = (
        await client.get(f"/api/v1/trials/{workspace['id']}/api-keys", headers=auth_of(owner))
    ).json()
    assert [k["id"] for k in listed["items"]] == [key["id"]]
    assert key["key"] not in str(listed) and "hash" not in str(listed).lower()

    revoked = await client.post(
        f"/api/v1/trials/{workspace['id']}/api-keys/{key['id']}/revoke", headers=auth_of(owner)
    )
    assert revoked.json()["status"] == "revoked"
    assert (await verify(client, key["key"]))["code"] == "REVOKED"
    assert "identity.apikey.revoked" in await events_of(identity_app, key["id"])


async def test_a_cancelled_trials_keys_stop_verifying(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    workspace = await open_trial(client, owner)
    key = await trial_key(client, owner, workspace["id"])
    cancelled = await client.post(
        f"/api/v1/trials/{workspace['id']}/cancel", headers=auth_of(owner)
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancelledAt"]
    answer = await verify(client, key["key"])
    assert (answer["valid"], answer["code"]) == (False, "DISABLED")
    assert await events_of(identity_app, workspace["id"]) == [
        "identity.trial.created",
        "identity.trial.cancelled",
    ]
    assert await events_of(identity_app, key["id"]) == ["identity.apikey.revoked"]
    refused = await client.post(
        f"/api/v1/trials/{workspace['id']}/api-keys", json={}, headers=auth_of(owner)
    )
    assert refused.status_code == 409
    again = await client.post(f"/api/v1/trials/{workspace['id']}/cancel", headers=auth_of(owner))
    assert again.status_code == 200 and again.json() == cancelled.json()


async def test_an_expired_trials_key_stops_verifying(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    workspace = await open_trial(client, owner)
    key = await trial_key(client, owner, workspace["id"])
    await execute(
        identity_app,
        "UPDATE trial_workspaces SET expires_at = now() - interval '1 second' WHERE id = :id",
        id=workspace["id"],
    )
    # Refused at once, before the job has run...
    assert (await verify(client, key["key"]))["code"] == "EXPIRED"
    # ...and the job makes it official.
    factory = uow_factory(identity_app.state.database, identity_app.state.settings)
    assert await expire_due_trials(factory) >= 1
    assert await expire_due_trials(factory) == 0  # idempotent
    ended = (await client.get(f"/api/v1/trials/{workspace['id']}", headers=auth_of(owner))).json()
    assert ended["status"] == "expired"
    answer = await verify(client, key["key"])
    assert (answer["valid"], answer["code"]) == (False, "EXPIRED")
    assert await events_of(identity_app, workspace["id"]) == [
        "identity.trial.created",
        "identity.trial.expired",
    ]
    assert await events_of(identity_app, key["id"]) == ["identity.apikey.revoked"]
    stored = await row(
        identity_app, "SELECT status FROM trial_api_keys WHERE id = :id", id=key["id"]
    )
    assert stored["status"] == "revoked"
    cancel = await client.post(f"/api/v1/trials/{workspace['id']}/cancel", headers=auth_of(owner))
    assert cancel.status_code == 409
    assert "expire-trials" in {job.name for job in JOBS}


async def test_a_paid_plan_converts_the_owners_active_trials(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    workspace = await open_trial(client, owner)
    key = await trial_key(client, owner, workspace["id"])

    async def plan(revision: int, tier: str) -> None:
        event = SubscriptionUpdated(
            subscription_id=f"sub-{owner['user_id']}",
            user_id=owner["user_id"],
            revision=revision,
            updated_at=datetime.now(UTC),
            plan_id="p",
            plan_name="Plan",
            tier=tier,  # type: ignore[arg-type]
            status="ACTIVE",
            tokens_per_month=0,
            api_access=True,
        )
        envelope = Envelope.wrap(event, source="billing", subject="s", correlation_id="c")
        async with uow_factory(identity_app.state.database, identity_app.state.settings)() as uow:
            await on_subscription_updated(event, envelope, uow)
            await uow.commit()

    await plan(1, "FREE")  # the free plan converts nothing
    assert (await verify(client, key["key"]))["code"] == "VALID"
    await plan(2, "PRO")
    converted = (
        await client.get(f"/api/v1/trials/{workspace['id']}", headers=auth_of(owner))
    ).json()
    assert converted["status"] == "converted" and converted["convertedAt"]
    assert (await verify(client, key["key"]))["code"] == "DISABLED"
    assert await events_of(identity_app, workspace["id"]) == [
        "identity.trial.created",
        "identity.trial.converted",
    ]


async def test_trials_are_listed_newest_first_in_pages(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    ids = []
    for _ in range(3):
        opened = await open_trial(client, owner)
        ids.append(opened["id"])
        await client.post(f"/api/v1/trials/{opened['id']}/cancel", headers=auth_of(owner))
    page = (await client.get("/api/v1/trials?limit=2", headers=auth_of(owner))).json()
    assert [w["id"] for w in page["items"]] == [ids[2], ids[1]]
    rest = (
        await client.get(f"/api/v1/trials?cursor={page['nextCursor']}", headers=auth_of(owner))
    ).json()
    assert [w["id"] for w in rest["items"]] == [ids[0]]
    active = (await client.get("/api/v1/trials?status=active", headers=auth_of(owner))).json()
    assert active["items"] == []
