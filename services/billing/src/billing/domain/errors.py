"""Errors of billing's use cases; the web layer answers them as problem+json."""

from __future__ import annotations

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
