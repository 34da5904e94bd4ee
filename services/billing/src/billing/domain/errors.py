"""Errors of billing's use cases; the web layer answers them as problem+json."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from lib_web.problems import ConflictError, NotFoundError, ProblemError


class NoSubscriptionError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("You have no subscription yet.")


class PlanNotFoundError(ProblemError):
    def __init__(self) -> None:
        super().__init__(422, "Unprocessable Content", "No such plan.")


class PaymentMethodNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("No such payment method.")


class PaymentMethodRequiredError(ConflictError):
    def __init__(self) -> None:
        super().__init__("A default payment method is required to subscribe to a paid plan.")


class NothingToCancelError(ConflictError):
    def __init__(self) -> None:
        super().__init__("The free plan cannot be cancelled.")


class NotCancellingError(ConflictError):
    def __init__(self) -> None:
        super().__init__("The subscription is not set to end at its period end.")


class PaymentFailedError(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            402, "Payment Required", "The first payment of the subscription did not succeed."
        )


class NoTokenBalanceError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("You have no token balance yet.")


class InsufficientTokensError(ProblemError):
    def __init__(self, *, required: int, available: int | None) -> None:
        super().__init__(
            402,
            "Payment Required",
            "Not enough tokens: the balance would go below zero.",
            required=required,
            available=available,
        )


class DailyQuotaExceededError(ProblemError):
    def __init__(self, *, limit: int, resets_at: datetime) -> None:
        retry_after = max(1, math.ceil((resets_at - datetime.now(UTC)).total_seconds()))
        super().__init__(
            429,
            "Too Many Requests",
            f"The daily quota of {limit} generations is used up; it resets at {resets_at:%H:%M} "
            "UTC.",
            headers={"Retry-After": str(retry_after)},
            limit=limit,
            resetsAt=resets_at.isoformat().replace("+00:00", "Z"),
        )


class ReservationConflictError(ConflictError):
    def __init__(self) -> None:
        super().__init__("This job already has a reservation for another user or another amount.")


class TransactionNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("No such token transaction.")


class VoucherNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("No such voucher.")


class VoucherUnavailableError(ProblemError):
    """Expired (410), inactive or used up (409): the voucher cannot be redeemed now."""

    def __init__(self, reason: str) -> None:
        status, title = (410, "Gone") if reason == "expired" else (409, "Conflict")
        super().__init__(status, title, f"This voucher is {reason}.", reason=reason)


class VoucherAlreadyRedeemedError(ConflictError):
    def __init__(self) -> None:
        super().__init__("You have already redeemed this voucher.")


class VoucherCodeTakenError(ConflictError):
    def __init__(self) -> None:
        super().__init__("A voucher with this code exists already.")


class UnsupportedVoucherTypeError(ProblemError):
    def __init__(self, voucher_type: str) -> None:
        super().__init__(
            422,
            "Unprocessable Content",
            f"Vouchers of type {voucher_type} are not redeemable for tokens.",
        )


class PackageNotFoundError(ProblemError):
    def __init__(self) -> None:
        super().__init__(422, "Unprocessable Content", "No such token package.")


class PackageNotOnSaleError(ConflictError):
    def __init__(self) -> None:
        super().__init__("This token package is no longer on sale.")


class PurchaseNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("No such token purchase.")
