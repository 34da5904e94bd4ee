"""The keys' tier follows billing.subscription.updated (the handler, applied directly; the
same over the broker is in tests/api_keys)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from identity.events.api_keys import on_subscription_updated
from lib_contracts.billing import SubscriptionUpdated
from lib_messaging.envelope import Envelope
from lib_runtime.worker_cli import uow_factory

from .api_key_helpers import create_key, verified_owner, verify


async def plan(app: FastAPI, user_id: str, **fields: Any) -> None:
    values: dict[str, Any] = {
        "subscription_id": f"sub-{user_id}",
        "user_id": user_id,
        "revision": 1,
        "updated_at": datetime.now(UTC),
        "plan_id": "p",
        "plan_name": "Plan",
        "tier": "PRO",
        "status": "ACTIVE",
        "tokens_per_month": 0,
        "api_access": True,
        **fields,
    }
    event = SubscriptionUpdated(**values)
    envelope = Envelope.wrap(event, source="billing", subject="s", correlation_id="c")
    async with uow_factory(app.state.database, app.state.settings)() as uow:
        await on_subscription_updated(event, envelope, uow)
        await uow.commit()


async def test_out_of_order_snapshots_are_dropped(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    key = (await create_key(client, owner))["key"]
    await plan(identity_app, owner["user_id"], revision=3, tier="ENTERPRISE")
    await plan(identity_app, owner["user_id"], revision=2, tier="STARTER")  # late
    assert (await verify(client, key))["tier"] == "ENTERPRISE"
    await plan(identity_app, owner["user_id"], revision=4, tier="STARTER")
    assert (await verify(client, key))["tier"] == "STARTER"


async def test_a_plan_without_api_access_or_a_lapsed_one_gives_free(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    key = (await create_key(client, owner))["key"]
    await plan(identity_app, owner["user_id"], revision=1, tier="PREMIUM", api_access=False)
    assert (await verify(client, key))["tier"] == "FREE"
    await plan(identity_app, owner["user_id"], revision=2, tier="PREMIUM")
    assert (await verify(client, key))["tier"] == "PREMIUM"
    await plan(identity_app, owner["user_id"], revision=3, tier="PREMIUM", status="UNPAID")
    assert (await verify(client, key))["tier"] == "FREE"


async def test_the_highest_live_plan_wins_and_new_keys_get_it(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    user_id = owner["user_id"]
    await plan(identity_app, user_id, subscription_id=f"tokens-{user_id}", tier="BASIC")
    await plan(identity_app, user_id, subscription_id=f"api-{user_id}", tier="PRO")
    created = await create_key(client, owner)
    assert created["tier"] == "PRO"
    assert (await verify(client, created["key"]))["tier"] == "PRO"


async def test_an_unknown_user_is_skipped(identity_app: FastAPI) -> None:
    await plan(identity_app, "no-such-user")  # nothing to retier, nothing fails
