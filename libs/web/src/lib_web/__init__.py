"""The web layer every service shares: app factory, probes, metrics, errors, logging."""

from lib_web.access_log import AccessLogMiddleware
from lib_web.app import Lifespan, create_service_app
from lib_web.correlation import (
    CORRELATION_ID_HEADER,
    REQUEST_ID_HEADER,
    RequestIdMiddleware,
    sane_request_id,
)
from lib_web.health import ReadinessCheck, register_readiness_check, run_readiness_checks
from lib_web.logging_setup import configure_logging
from lib_web.metrics import (
    HttpMetricsMiddleware,
    MetricsRefresher,
    http_request_duration_seconds,
    register_metrics_refresher,
)
from lib_web.problems import (
    PROBLEM_MEDIA_TYPE,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ProblemError,
    ProblemResponse,
    UnhandledErrorMiddleware,
    install_problem_handlers,
    problem_response,
)
from lib_web.runner import run_service

__all__ = [
    "CORRELATION_ID_HEADER",
    "PROBLEM_MEDIA_TYPE",
    "REQUEST_ID_HEADER",
    "AccessLogMiddleware",
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "HttpMetricsMiddleware",
    "Lifespan",
    "MetricsRefresher",
    "NotFoundError",
    "ProblemError",
    "ProblemResponse",
    "ReadinessCheck",
    "RequestIdMiddleware",
    "UnhandledErrorMiddleware",
    "configure_logging",
    "create_service_app",
    "http_request_duration_seconds",
    "install_problem_handlers",
    "problem_response",
    "register_metrics_refresher",
    "register_readiness_check",
    "run_readiness_checks",
    "run_service",
    "sane_request_id",
]
