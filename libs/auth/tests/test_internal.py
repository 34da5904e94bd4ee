from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import SecretStr

from lib_auth import internal_auth_headers, require_internal_caller

TOKEN = "s3cret-internal"


def internal_app(configured_token: object) -> FastAPI:
    app = FastAPI()
    app.state.internal_token = configured_token
    router = APIRouter(prefix="/internal", dependencies=[Depends(require_internal_caller)])

    @router.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    app.include_router(router)
    return app


@pytest.fixture(params=[SecretStr(TOKEN), TOKEN], ids=["secret-str", "str"])
async def http(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=internal_app(request.param))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as client:
        yield client


async def test_right_token_passes(http: httpx.AsyncClient) -> None:
    response = await http.get("/internal/ping", headers=internal_auth_headers(TOKEN))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Internal-Token": "wrong"},
        {"X-Internal-Token": ""},
        {"X-Internal-Token": TOKEN + "x"},
    ],
    ids=["missing", "wrong", "empty", "longer"],
)
async def test_missing_or_wrong_token_is_403(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    assert (await http.get("/internal/ping", headers=headers)).status_code == 403


@pytest.mark.parametrize(
    "end_user_credential",
    [{"Authorization": "Bearer eyJhbGciOi.x.y"}, {"authorization": "bearer t"}, {"X-API-Key": "k"}],
    ids=["bearer", "bearer-lowercase", "api-key"],
)
async def test_end_user_credentials_are_refused_even_with_the_right_token(
    http: httpx.AsyncClient, end_user_credential: dict[str, str]
) -> None:
    headers = {**internal_auth_headers(TOKEN), **end_user_credential}
    response = await http.get("/internal/ping", headers=headers)
    assert response.status_code == 403
    assert "end-user" in response.json()["detail"]


async def test_no_configured_token_refuses_everyone() -> None:
    transport = httpx.ASGITransport(app=internal_app(SecretStr("")))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as client:
        response = await client.get("/internal/ping", headers={"X-Internal-Token": ""})
    assert response.status_code == 403
