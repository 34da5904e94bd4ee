"""Service-to-service calls: the shared internal token, sent and checked.

DESIGN.md: routes under /internal refuse end-user credentials, so a request carrying a user's
bearer token or API key is refused even with the right internal token (a confused deputy
must not turn a user's request into a trusted one).
"""

from __future__ import annotations

import hmac

import structlog
from fastapi import HTTPException, Request
from pydantic import SecretStr

INTERNAL_TOKEN_HEADER = "X-Internal-Token"
API_KEY_HEADER = "X-API-Key"

logger = structlog.stdlib.get_logger(__name__)


def internal_auth_headers(internal_token: str) -> dict[str, str]:
    """Headers an internal call sends."""
    return {INTERNAL_TOKEN_HEADER: internal_token}


def _configured_internal_token(request: Request) -> str:
    token = getattr(request.app.state, "internal_token", None)
    if isinstance(token, SecretStr):
        return token.get_secret_value()
    return token if isinstance(token, str) else ""


async def require_internal_caller(request: Request) -> None:
    """Let through only calls from our services (`X-Internal-Token` matches the configured
    token, compared in constant time) that carry no end-user credential; 403 otherwise."""
    headers = request.headers
    if headers.get("authorization", "")[:7].lower() == "bearer " or API_KEY_HEADER in headers:
        raise HTTPException(403, "Internal routes refuse end-user credentials.")
    expected = _configured_internal_token(request)
    presented = headers.get(INTERNAL_TOKEN_HEADER)
    if not expected:
        logger.error("internal route called but no internal token is configured")
        raise HTTPException(403, "Internal caller not recognised.")
    if presented is None or not hmac.compare_digest(
        presented.encode("utf-8"), expected.encode("utf-8")
    ):
        raise HTTPException(403, "Internal caller not recognised.")
