"""The FastAPI application every service starts from."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI

from lib_settings import ServiceSettings
from lib_web.access_log import AccessLogMiddleware
from lib_web.correlation import RequestIdMiddleware
from lib_web.health import ReadinessCheck, health_router
from lib_web.metrics import HttpMetricsMiddleware, MetricsRefresher, metrics_router
from lib_web.problems import UnhandledErrorMiddleware, install_problem_handlers

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    settings: ServiceSettings,
    *,
    routers: Sequence[APIRouter] = (),
    lifespan: Lifespan | None = None,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    metrics_refreshers: Sequence[MetricsRefresher] = (),
    version: str = "0.1.0",
) -> FastAPI:
    """A service's app: its routers plus probes, /metrics, problem+json errors, request ids,
    access logs and latency metrics.

    `app.state` holds `settings`, `internal_token` (for lib_auth's internal-route guard),
    `readiness_checks` and `metrics_refreshers`; the lifespan adds to the last two with
    `register_readiness_check` / `register_metrics_refresher` once its resources exist.
    Logging is configured by `run_service` (or the caller), not here.
    """
    app = FastAPI(title=settings.service_name, version=version, lifespan=lifespan)
    app.state.settings = settings
    app.state.internal_token = settings.internal_token
    app.state.readiness_checks = dict(readiness_checks or {})
    app.state.metrics_refreshers = list(metrics_refreshers)

    install_problem_handlers(app)
    app.include_router(health_router())
    app.include_router(metrics_router())
    for router in routers:
        app.include_router(router)

    # The last added is the outermost: the request id is bound before anything logs, and the
    # 500 answer for an unhandled error is seen by the metrics and the access log.
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app
