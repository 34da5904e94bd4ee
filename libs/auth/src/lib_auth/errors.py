"""Authentication errors. They are HTTP exceptions, so a route that lets one escape answers
with the right status (and the web layer renders it as problem+json)."""

from __future__ import annotations

from starlette.exceptions import HTTPException

# RFC 6750: a request without credentials gets a bare challenge, a bad token an error code.
BEARER_CHALLENGE = "Bearer"
INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'


class AuthError(HTTPException):
    """The credential is missing or not acceptable: 401 with a Bearer challenge."""

    def __init__(self, detail: str, *, challenge: str = INVALID_TOKEN_CHALLENGE) -> None:
        super().__init__(401, detail, headers={"WWW-Authenticate": challenge})


class JwksUnavailableError(HTTPException):
    """No signing keys could be had from identity: the caller is not at fault (503)."""

    def __init__(self, detail: str = "Signing keys are unavailable.") -> None:
        super().__init__(503, detail, headers={"Retry-After": "5"})


class ApiKeyServiceError(HTTPException):
    """identity's key verification could not be reached or answered nonsense (503)."""

    def __init__(self, detail: str = "API key verification is unavailable.") -> None:
        super().__init__(503, detail, headers={"Retry-After": "2"})
