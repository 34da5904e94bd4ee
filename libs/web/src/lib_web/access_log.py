"""One structured access-log line per HTTP request."""

from __future__ import annotations

import structlog
from starlette.types import ASGIApp, Scope

from lib_web.observing import ResponseObserver

# Probes and scrapes arrive every few seconds; they are logged at debug level only.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

access_logger = structlog.stdlib.get_logger("lib_web.access")


class AccessLogMiddleware(ResponseObserver):
    def __init__(self, app: ASGIApp, *, quiet_paths: frozenset[str] = QUIET_PATHS) -> None:
        super().__init__(app)
        self.quiet_paths = quiet_paths

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        log = access_logger.debug if scope["path"] in self.quiet_paths else access_logger.info
        log(
            "request",
            method=scope["method"],
            path=scope["path"],
            status=status,
            duration_ms=round(seconds * 1000, 2),
        )
