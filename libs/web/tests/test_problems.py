from datetime import UTC, datetime

import httpx

from lib_database.keyset import encode_cursor
from lib_web import PROBLEM_MEDIA_TYPE


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nowhere", headers={"X-Request-ID": "r-404"})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Not Found",
        "instance": "/api/v1/nowhere",
        "requestId": "r-404",
    }


async def test_wrong_method_keeps_status_and_allow_header(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/items/abc")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["allow"] == "GET"


async def test_http_exception_keeps_status_detail_and_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/private")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["title"] == "Unauthorized"
    assert body["detail"] == "Bearer token required."


async def test_validation_error_is_422_with_field_locations(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/items", json={"quantity": "many"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == 422
    assert body["instance"] == "/api/v1/items"
    locations = {tuple(error["location"]): error for error in body["errors"]}
    assert locations.keys() == {("body", "name"), ("body", "quantity")}
    assert locations[("body", "name")]["type"] == "missing"
    assert locations[("body", "quantity")]["message"]
    assert "many" not in response.text  # the rejected input is not echoed back


async def test_problem_error_keeps_status_title_detail_and_extensions(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/missing/x1")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["title"] == "Not Found"
    assert body["detail"] == "item x1 does not exist"
    assert body["itemId"] == "x1"
    assert body["instance"] == "/api/v1/missing/x1"
    assert body["requestId"] == response.headers["x-request-id"]


async def test_unhandled_exception_is_bare_500_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["title"] == "Internal Server Error"
    assert body["instance"] == "/api/v1/boom"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text


async def test_invalid_page_cursor_is_400_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/pages", params={"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["title"] == "Bad Request"
    assert body["detail"] == "The cursor is not valid."
    assert body["instance"] == "/api/v1/pages"


async def test_valid_page_cursor_reaches_the_route(client: httpx.AsyncClient) -> None:
    cursor = encode_cursor(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "row-1")
    response = await client.get("/api/v1/pages", params={"cursor": cursor})
    assert response.status_code == 200
    assert response.json() == {"createdAt": "2026-01-02T03:04:05+00:00", "id": "row-1"}
