"""Stripe objects (as plain dicts: API responses and webhook payloads alike) mapped onto our
terms. API-version differences are handled here and nowhere else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from billing.models import StripePaymentStatus, SubscriptionStatus

# Stripe's subscription statuses onto seed 004's; `None`: the subscription is over.
_STATUS: dict[str, SubscriptionStatus | None] = {
    "active": SubscriptionStatus.ACTIVE,
    "trialing": SubscriptionStatus.TRIALING,
    "past_due": SubscriptionStatus.PAST_DUE,
    "unpaid": SubscriptionStatus.UNPAID,
    "incomplete": SubscriptionStatus.UNPAID,
    "paused": SubscriptionStatus.UNPAID,
    "canceled": None,
    "incomplete_expired": None,
}


def from_timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value is not None else None


def _first_item(subscription: Mapping[str, Any]) -> Mapping[str, Any]:
    items = subscription.get("items") or {}
    data = items.get("data") or []
    if not data:
        raise ValueError(f"Stripe subscription {subscription.get('id')} has no items")
    item: Mapping[str, Any] = data[0]
    return item


def _price_id(item: Mapping[str, Any]) -> str:
    # Plan-based subscriptions (localstripe, older API versions) carry `plan`; newer ones
    # carry `price` (a plan id is also a valid price id).
    price = item.get("price") or item.get("plan")
    if isinstance(price, Mapping):
        return str(price["id"])
    return str(price)


@dataclass(frozen=True, slots=True)
class StripeSubscriptionState:
    """What we keep of a Stripe subscription."""

    stripe_subscription_id: str
    stripe_customer_id: str
    item_id: str
    price_id: str
    status: SubscriptionStatus | None  # None: canceled or expired, the subscription is over
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool

    @property
    def is_over(self) -> bool:
        return self.status is None

    @classmethod
    def of(cls, subscription: Mapping[str, Any]) -> StripeSubscriptionState:
        item = _first_item(subscription)
        # Since API version 2025-03-31 the billing period lives on the item.
        start = subscription.get("current_period_start", item.get("current_period_start"))
        end = subscription.get("current_period_end", item.get("current_period_end"))
        customer = subscription["customer"]
        return cls(
            stripe_subscription_id=str(subscription["id"]),
            stripe_customer_id=str(customer["id"] if isinstance(customer, Mapping) else customer),
            item_id=str(item["id"]),
            price_id=_price_id(item),
            status=_STATUS.get(str(subscription["status"]), SubscriptionStatus.UNPAID),
            current_period_start=from_timestamp(start),
            current_period_end=from_timestamp(end),
            cancel_at_period_end=bool(subscription.get("cancel_at_period_end")),
        )


@dataclass(frozen=True, slots=True)
class CardDetails:
    """A payment method as shown to its owner (seed 002: brand, last4, expiry)."""

    stripe_payment_method_id: str
    type: str
    card_brand: str | None
    card_last4: str | None
    card_exp_month: int | None
    card_exp_year: int | None

    @classmethod
    def of(cls, payment_method: Mapping[str, Any]) -> CardDetails:
        card = payment_method.get("card") or {}
        month, year = card.get("exp_month"), card.get("exp_year")
        return cls(
            stripe_payment_method_id=str(payment_method["id"]),
            type=str(payment_method.get("type") or "card"),
            card_brand=card.get("brand"),
            card_last4=card.get("last4"),
            card_exp_month=int(month) if month is not None else None,
            card_exp_year=int(year) if year is not None else None,
        )


# Stripe's PaymentIntent statuses onto ours (a failed attempt is told by its last error).
_INTENT_STATUS: dict[str, StripePaymentStatus] = {
    "requires_payment_method": StripePaymentStatus.PENDING,
    "requires_confirmation": StripePaymentStatus.PENDING,
    "requires_action": StripePaymentStatus.PENDING,
    "processing": StripePaymentStatus.PENDING,
    "requires_capture": StripePaymentStatus.AUTHORIZED,
    "succeeded": StripePaymentStatus.SUCCEEDED,
    "canceled": StripePaymentStatus.CANCELED,
}


@dataclass(frozen=True, slots=True)
class PaymentIntentState:
    """What we keep of a Stripe PaymentIntent."""

    payment_intent_id: str
    status: StripePaymentStatus
    amount_cents: int
    currency: str
    client_secret: str | None
    failure_code: str | None
    failure_message: str | None

    @classmethod
    def of(cls, intent: Mapping[str, Any]) -> PaymentIntentState:
        error = intent.get("last_payment_error") or {}
        status = _INTENT_STATUS.get(str(intent["status"]), StripePaymentStatus.PENDING)
        if status is StripePaymentStatus.PENDING and error:
            status = StripePaymentStatus.FAILED  # the attempt failed; a new one may follow
        return cls(
            payment_intent_id=str(intent["id"]),
            status=status,
            amount_cents=int(intent["amount"]),
            currency=str(intent["currency"]),
            client_secret=intent.get("client_secret"),
            failure_code=error.get("decline_code") or error.get("code"),
            failure_message=error.get("message"),
        )
