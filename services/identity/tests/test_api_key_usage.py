"""Usage of a key: reported calls stored once each, summed per day for the owner."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from identity.events.api_keys import on_api_usage_recorded
from lib_contracts import ApiCallRecord, MarketDataApiUsageRecorded
from lib_messaging.envelope import Envelope
from lib_runtime.worker_cli import uow_factory

from .api_key_helpers import auth_of, create_key, row, verified_owner


def _call(key_id: str, status: int, latency: int, at: datetime) -> ApiCallRecord:
    return ApiCallRecord(
        call_id=str(uuid.uuid4()),
        api_key_id=key_id,
        endpoint="/api/v1/metrics",
        method="get",
        status_code=status,
        latency_ms=latency,
        called_at=at,
    )


async def _apply(app: FastAPI, batch: MarketDataApiUsageRecorded) -> None:
    envelope = Envelope.wrap(batch, source="market_data", subject="x", correlation_id="c")
    async with uow_factory(app.state.database, app.state.settings)() as uow:
        await on_api_usage_recorded(batch, envelope, uow)
        await uow.commit()


async def test_calls_are_stored_once_and_summed_per_day(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    owner = await verified_owner(client, identity_app)
    key_id = (await create_key(client, owner))["id"]
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    calls = [_call(key_id, 200, ms, now) for ms in range(1, 101)]
    calls += [_call(key_id, 500, 1000, now), _call(key_id, 201, 7, yesterday)]
    calls.append(_call("no-such-key", 200, 1, now))  # unknown keys are skipped
    batch = MarketDataApiUsageRecorded(batch_id="b1", calls=calls)
    await _apply(identity_app, batch)
    await _apply(identity_app, batch)  # a redelivered batch under another event id

    response = await client.get(f"/api/v1/api-keys/{key_id}/usage?days=2", headers=auth_of(owner))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totalCalls"] == 102
    earlier, today = body["days"]
    assert (earlier["day"], earlier["calls"], earlier["errors"]) == (
        yesterday.date().isoformat(),
        1,
        0,
    )
    assert earlier["p50LatencyMs"] == 7
    assert (today["calls"], today["errors"]) == (101, 1)
    assert abs(today["errorRate"] - 1 / 101) < 1e-9
    assert today["p50LatencyMs"] == 51  # median of 1..100 and 1000
    assert 95 <= today["p95LatencyMs"] <= 100
    stored = await row(
        identity_app,
        "SELECT last_used_at, (SELECT count(*) FROM api_calls WHERE api_key_id = :id) AS n, "
        "(SELECT DISTINCT method FROM api_calls WHERE api_key_id = :id) AS method "
        "FROM api_keys WHERE id = :id",
        id=key_id,
    )
    assert stored["n"] == 102 and stored["method"] == "GET"
    assert stored["last_used_at"] == now


async def test_usage_days_are_bounded(client: httpx.AsyncClient, identity_app: FastAPI) -> None:
    owner = await verified_owner(client, identity_app)
    key_id = (await create_key(client, owner))["id"]
    for days in (0, 91, "x"):
        response = await client.get(
            f"/api/v1/api-keys/{key_id}/usage?days={days}", headers=auth_of(owner)
        )
        assert response.status_code == 422
    empty = (await client.get(f"/api/v1/api-keys/{key_id}/usage", headers=auth_of(owner))).json()
    assert len(empty["days"]) == 30 and empty["totalCalls"] == 0 and empty["errorRate"] == 0
