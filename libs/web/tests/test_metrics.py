import httpx

from .demo_service import DemoDependencies


async def test_latency_histogram_is_labelled_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/items/item-7f3a9")
    await client.get("/api/v1/nowhere/zz-91")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE http_request_duration_seconds histogram" in text
    assert (
        'http_request_duration_seconds_count{method="GET",route="/api/v1/items/{item_id}",'
        'status="200"}' in text
    )
    assert 'route="<unmatched>",status="404"' in text
    assert "item-7f3a9" not in text
    assert "zz-91" not in text


async def test_scrape_awaits_refreshers_and_survives_a_failing_one(
    client: httpx.AsyncClient, dependencies: DemoDependencies
) -> None:
    assert dependencies.refreshes == 0
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert dependencies.refreshes == 1


async def test_unhandled_errors_are_counted_as_500(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/boom")
    text = (await client.get("/metrics")).text
    assert 'method="GET",route="/api/v1/boom",status="500"' in text
