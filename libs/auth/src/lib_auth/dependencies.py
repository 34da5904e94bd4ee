"""FastAPI dependencies for end-user authentication: bearer tokens, roles, API keys.

The verifier and the key client are built by the service's lifespan and put on the app:
`app.state.jwt_verifier` (a JwtVerifier) and `app.state.api_key_client` (an ApiKeyClient).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from lib_auth.api_keys import ApiKeyClient, ApiKeyCode, ApiKeyVerification
from lib_auth.errors import BEARER_CHALLENGE, AuthError
from lib_auth.internal import API_KEY_HEADER
from lib_auth.jwt_verifier import JwtVerifier
from lib_auth.principal import Principal

# Declared as security schemes so they show in each service's OpenAPI document.
bearer_scheme = HTTPBearer(auto_error=False, description="Access token issued by identity.")
api_key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="API key.")

API_KEY_CHALLENGE = f'ApiKey header="{API_KEY_HEADER}"'
# `request.state.<this>`: the verification of the key that authorised the request (for usage
# recording, see lib_runtime.api_usage).
API_KEY_STATE = "api_key"


def _jwt_verifier(request: Request) -> JwtVerifier:
    verifier = getattr(request.app.state, "jwt_verifier", None)
    if not isinstance(verifier, JwtVerifier):
        raise RuntimeError("app.state.jwt_verifier is not set; the lifespan must create it")
    return verifier


def _api_key_client(request: Request) -> ApiKeyClient:
    client = getattr(request.app.state, "api_key_client", None)
    if not isinstance(client, ApiKeyClient):
        raise RuntimeError("app.state.api_key_client is not set; the lifespan must create it")
    return client


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal | None:
    """The caller's principal if a bearer token was sent (it must be valid), else None."""
    if credentials is None:
        return None
    return await _jwt_verifier(request).verify(credentials.credentials)


async def require_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise AuthError("Bearer token required.", challenge=BEARER_CHALLENGE)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def require_role(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through a principal holding any of `roles` (SUPER_ADMIN
    implies ADMIN implies USER; staff roles count too), else 403."""
    if not roles:
        raise ValueError("require_role needs at least one role")

    async def role_holder(principal: CurrentPrincipal) -> Principal:
        if not any(principal.has_role(role) for role in roles):
            raise HTTPException(403, f"Requires role {' or '.join(roles)}.")
        return principal

    return role_holder


_API_KEY_FORBIDDEN = {ApiKeyCode.INSUFFICIENT_PERMISSIONS, ApiKeyCode.PENDING_VERIFICATION}


def _retry_after_s(verification: ApiKeyVerification) -> int:
    if verification.rate_limit is None:
        return 1
    remaining = (verification.rate_limit.reset - datetime.now(UTC)).total_seconds()
    return max(1, math.ceil(remaining))


async def require_api_key(
    request: Request, key: Annotated[str | None, Depends(api_key_scheme)]
) -> ApiKeyVerification:
    """The verification of the caller's `X-API-Key`: 401 if missing or invalid, 429 if rate
    limited, 403 if the key may not do this or is not verified yet."""
    if not key:
        raise HTTPException(
            401, "API key required.", headers={"WWW-Authenticate": API_KEY_CHALLENGE}
        )
    verification = await _api_key_client(request).verify(key)
    if verification.valid:
        setattr(request.state, API_KEY_STATE, verification)
        return verification
    code = verification.code
    detail = f"API key not accepted: {code.value}."
    if code is ApiKeyCode.RATE_LIMITED:
        raise HTTPException(429, detail, headers={"Retry-After": str(_retry_after_s(verification))})
    if code in _API_KEY_FORBIDDEN:
        raise HTTPException(403, detail)
    raise HTTPException(401, detail, headers={"WWW-Authenticate": API_KEY_CHALLENGE})


ApiKeyPrincipal = Annotated[ApiKeyVerification, Depends(require_api_key)]
