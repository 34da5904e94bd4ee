"""Errors of identity's use cases; the web layer answers them as problem+json."""

from __future__ import annotations

from lib_web.problems import ConflictError, ProblemError


class InvalidCredentialsError(ProblemError):
    """One answer for an unknown email and a wrong password: it must not tell them apart."""

    def __init__(self) -> None:
        super().__init__(401, "Unauthorized", "Email or password is incorrect.")


class InvalidRefreshTokenError(ProblemError):
    """Unknown, expired, revoked or reused refresh token: the client must log in again."""

    def __init__(self) -> None:
        super().__init__(401, "Unauthorized", "The refresh token is not valid.")


class EmailTakenError(ConflictError):
    def __init__(self) -> None:
        super().__init__("An account with this email already exists.")
