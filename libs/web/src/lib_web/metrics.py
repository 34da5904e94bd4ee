"""Prometheus metrics: the HTTP latency histogram and the /metrics endpoint.

Metrics live in prometheus_client's default registry. The histogram is created on first use,
once per process, so building several apps (as tests do) never registers it twice.
Services refresh gauges that are read from elsewhere (outbox backlog, dead-letter depth) with
"metrics refreshers": async callables awaited right before every scrape.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

import structlog
from fastapi import APIRouter, FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Scope

from lib_web.observing import ResponseObserver

MetricsRefresher = Callable[[], Awaitable[None]]

REFRESHER_TIMEOUT_S = 5.0
UNMATCHED_ROUTE = "<unmatched>"

logger = structlog.stdlib.get_logger(__name__)


@functools.cache
def http_request_duration_seconds() -> Histogram:
    return Histogram(
        "http_request_duration_seconds",
        "Time to answer an HTTP request, by method, route template and status.",
        ["method", "route", "status"],
    )


def route_template(scope: Scope) -> str:
    """The matched route's path template ("/items/{item_id}"), never the raw path, so ids do
    not become label values."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else UNMATCHED_ROUTE


class HttpMetricsMiddleware(ResponseObserver):
    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self.histogram = http_request_duration_seconds()

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        self.histogram.labels(scope["method"], route_template(scope), str(status)).observe(seconds)


def metrics_refreshers(app: FastAPI) -> list[MetricsRefresher]:
    refreshers: list[MetricsRefresher] = app.state.metrics_refreshers
    return refreshers


def register_metrics_refresher(app: FastAPI, refresher: MetricsRefresher) -> None:
    """Await `refresher` before every scrape; a lifespan calls this once it has its resources."""
    metrics_refreshers(app).append(refresher)


async def _refresh(refresher: MetricsRefresher) -> None:
    try:
        async with asyncio.timeout(REFRESHER_TIMEOUT_S):
            await refresher()
    except Exception:
        # A stale gauge is better than no metrics at all.
        name = getattr(refresher, "__qualname__", repr(refresher))
        logger.exception("metrics refresher failed", refresher=name)


async def run_metrics_refreshers(refreshers: list[MetricsRefresher]) -> None:
    await asyncio.gather(*(_refresh(refresher) for refresher in refreshers))


def metrics_router() -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        await run_metrics_refreshers(metrics_refreshers(request.app))
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router
