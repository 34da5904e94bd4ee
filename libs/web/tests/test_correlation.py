import httpx
import pytest

from lib_web import sane_request_id


async def test_request_id_is_generated_and_visible_to_the_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/items/abc")
    request_id = response.headers["x-request-id"]
    assert sane_request_id(request_id) == request_id
    assert response.json()["correlationId"] == request_id


async def test_callers_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/items/abc", headers={"X-Request-ID": "req-42.a_b"})
    assert response.headers["x-request-id"] == "req-42.a_b"
    assert response.json()["correlationId"] == "req-42.a_b"


async def test_correlation_id_header_is_accepted_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/items/abc", headers={"X-Correlation-ID": "corr-7"})
    assert response.headers["x-request-id"] == "corr-7"


@pytest.mark.parametrize("insane", ["a" * 129, "id with spaces", "x;rm -rf", "ünïcode", ""])
async def test_insane_request_id_is_replaced(client: httpx.AsyncClient, insane: str) -> None:
    response = await client.get(
        "/api/v1/items/abc", headers={b"X-Request-ID": insane.encode("utf-8")}
    )
    request_id = response.headers["x-request-id"]
    assert request_id != insane
    assert sane_request_id(request_id) == request_id


async def test_error_responses_carry_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/boom", headers={"X-Request-ID": "boom-1"})
    assert response.headers["x-request-id"] == "boom-1"
    assert response.json()["requestId"] == "boom-1"
