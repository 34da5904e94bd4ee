"""Request id middleware: every request runs inside a correlation scope named by its id."""

from __future__ import annotations

import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lib_messaging.context import correlation_scope, new_correlation_id

REQUEST_ID_HEADER = "X-Request-ID"
CORRELATION_ID_HEADER = "X-Correlation-ID"

# Accept a caller's id only if it cannot smuggle anything into logs or headers.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_INCOMING_HEADERS = (REQUEST_ID_HEADER.lower().encode(), CORRELATION_ID_HEADER.lower().encode())


def sane_request_id(value: str | None) -> str | None:
    """The value if it is a usable request id, else None."""
    if value is not None and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


def _incoming_request_id(scope: Scope) -> str | None:
    headers: dict[bytes, bytes] = {}
    for name, value in scope.get("headers", ()):
        headers.setdefault(name, value)
    for header in _INCOMING_HEADERS:
        raw = headers.get(header)
        if raw is not None:
            return sane_request_id(raw.decode("latin-1"))
    return None


class RequestIdMiddleware:
    """Takes the caller's X-Request-ID (or X-Correlation-ID) or makes one, binds it as the
    correlation id for the request, and echoes it in the X-Request-ID response header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        request_id = _incoming_request_id(scope) or new_correlation_id()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with correlation_scope(request_id):
            await self.app(scope, receive, send_with_request_id)
