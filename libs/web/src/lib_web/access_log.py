"""One structured access-log line per HTTP request."""

from __future__ import annotations

import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Probes and scrapes arrive every few seconds; they are logged at debug level only.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

access_logger = structlog.stdlib.get_logger("lib_web.access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, *, quiet_paths: frozenset[str] = QUIET_PATHS) -> None:
        self.app = app
        self.quiet_paths = quiet_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        status = 500  # what the client gets if the app raises before answering
        started = time.perf_counter()

        async def status_recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, status_recording_send)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            log = access_logger.debug if scope["path"] in self.quiet_paths else access_logger.info
            log(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=duration_ms,
            )
