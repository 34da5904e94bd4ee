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


class TooManyLoginFailuresError(ProblemError):
    """Logins refused for a while after too many failures; the same answer whether or not the
    account exists."""

    def __init__(self, *, retry_after_s: int) -> None:
        super().__init__(
            429,
            "Too Many Requests",
            "Too many failed logins; try again later.",
            headers={"Retry-After": str(retry_after_s)},
        )


class InvalidVerificationTokenError(ProblemError):
    """One answer for an unknown, used or expired token: none of them may be told apart."""

    def __init__(self) -> None:
        super().__init__(
            400, "Bad Request", "The token is not valid: it is unknown, used or expired."
        )


class EmailAlreadyVerifiedError(ConflictError):
    def __init__(self) -> None:
        super().__init__("The email address is already verified.")


class NoEmailAddressError(ConflictError):
    def __init__(self) -> None:
        super().__init__("The account has no email address to verify.")


class TooManyMailsError(ProblemError):
    def __init__(self, *, retry_after_s: int) -> None:
        super().__init__(
            429,
            "Too Many Requests",
            "A mail was sent to this address recently; try again later.",
            headers={"Retry-After": str(retry_after_s)},
        )


class UnknownReferralCodeError(ProblemError):
    """422 like a validation error, pointing at the field."""

    def __init__(self) -> None:
        super().__init__(
            422,
            "Unprocessable Content",
            "No account has this referral code.",
            errors=[
                {
                    "location": ["body", "referralCode"],
                    "message": "unknown referral code",
                    "type": "unknown_referral_code",
                }
            ],
        )


class WrongCurrentPasswordError(ProblemError):
    def __init__(self) -> None:
        super().__init__(400, "Bad Request", "The current password is not correct.")


class PasswordChangedMeanwhileError(ConflictError):
    def __init__(self) -> None:
        super().__init__("The password was changed meanwhile; try again.")
