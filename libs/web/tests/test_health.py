import asyncio

import httpx
from fastapi import FastAPI

from lib_web import PROBLEM_MEDIA_TYPE, register_readiness_check, run_readiness_checks

from .demo_service import DemoDependencies


async def test_healthz_is_always_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_every_check_including_those_registered_by_the_lifespan(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


async def test_readyz_is_503_problem_naming_the_failed_check(
    client: httpx.AsyncClient, dependencies: DemoDependencies
) -> None:
    dependencies.broker_up = False
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] == "ConnectionError: broker unreachable"
    assert "broker" in body["detail"]
    assert body["instance"] == "/readyz"


async def test_a_hanging_check_times_out(client: httpx.AsyncClient, app: FastAPI) -> None:
    async def hangs() -> None:
        await asyncio.sleep(10)

    register_readiness_check(app, "slow", hangs)
    outcomes = await run_readiness_checks(app.state.readiness_checks, timeout_s=0.05)
    assert outcomes["slow"] == "timed out after 0.05s"
    assert outcomes["database"] == "ok"


async def test_openapi_is_served_without_probe_routes(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "demo"
    assert "/api/v1/items/{item_id}" in schema["paths"]
    assert "/healthz" not in schema["paths"]
    assert (await client.get("/docs")).status_code == 200
