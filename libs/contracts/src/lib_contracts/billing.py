"""Events produced by the `billing` context: subscriptions, payments and token purchases."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from lib_messaging.envelope import EventPayload, event_contract

from .common import (
    Cents,
    Currency,
    Id,
    Revision,
    SubscriptionTier,
    Tokens,
    UtcDatetime,
)

SubscriptionStatus = Literal["ACTIVE", "CANCELED", "PAST_DUE", "UNPAID", "TRIALING"]
"""Seed 004's `SubscriptionStatus` (billing maps Stripe's lowercase statuses onto it)."""


@event_contract("billing.subscription.updated", 1)
class SubscriptionUpdated(EventPayload):
    """Billing emits this whenever a user's subscription changes (mostly from Stripe webhooks,
    also when the free plan is created); it is a full snapshot of the subscription.

    Identity sets the API key tier and rate limits, market_data the data access depth and
    content the quota size from `tier`, `api_access` and `tokens_per_month`.
    Out-of-order delivery: `revision` increases by one with every change of the subscription;
    apply an event only if its `revision` is higher than the one stored for
    `subscription_id`, otherwise drop it (`updated_at` is billing's time of that state).
    """

    subscription_id: Id
    user_id: Id
    revision: Revision
    updated_at: UtcDatetime
    plan_id: Id
    plan_name: str = Field(min_length=1)
    tier: SubscriptionTier
    status: SubscriptionStatus
    current_period_start: UtcDatetime | None = None
    current_period_end: UtcDatetime | None = None
    cancel_at_period_end: bool = False
    downgrade_to: SubscriptionTier | None = None
    tokens_per_month: Tokens
    api_access: bool


class _BookingPayment(EventPayload):
    """Fields shared by the payment outcome events; names exactly one booking or extension."""

    payment_intent_id: Id
    booking_id: Id | None = None
    extension_id: Id | None = None
    user_id: Id
    amount_cents: Cents
    currency: Currency

    @model_validator(mode="after")
    def _exactly_one_target(self) -> Self:
        if (self.booking_id is None) == (self.extension_id is None):
            raise ValueError("exactly one of bookingId and extensionId must be given")
        return self


@event_contract("billing.payment.succeeded", 1)
class PaymentSucceeded(_BookingPayment):
    """Billing emits this when the Stripe payment for a booking or an extension succeeds.

    Booking marks that booking or extension paid (`paymentStatus` PAID, `paidAt` /
    `paymentCapturedAt`). Exactly one of `booking_id` and `extension_id` is set.
    """

    succeeded_at: UtcDatetime


@event_contract("billing.payment.failed", 1)
class PaymentFailed(_BookingPayment):
    """Billing emits this when the Stripe payment for a booking or an extension fails.

    Booking marks it failed (`paymentStatus` FAILED) and records `failure_message` as
    `paymentError`. Exactly one of `booking_id` and `extension_id` is set. `failure_code` is
    Stripe's (decline) code.
    """

    failure_code: str = Field(min_length=1)
    failure_message: str | None = None
    failed_at: UtcDatetime


@event_contract("billing.stripe_event.processing_requested", 1)
class StripeEventProcessingRequested(EventPayload):
    """Billing's own command (one consumer: the billing worker): a Stripe webhook event was
    stored in the webhook inbox (`stripe_events`) and is to be applied from the queue, so the
    webhook endpoint answers fast and the bus's retries and dead-letter queue cover it."""

    stripe_event_row_id: Id
    stripe_event_id: Id
    stripe_event_type: str = Field(min_length=1)


@event_contract("billing.tokens.purchased", 1)
class TokensPurchased(EventPayload):
    """Billing emits this once per token package purchase, when its payment succeeded
    (Stripe's `payment_intent.succeeded`) and the tokens were credited to the user's balance
    (the ledger row `transaction_id`)."""

    payment_id: Id
    payment_intent_id: Id
    user_id: Id
    package_id: Id
    tokens: Tokens
    amount_cents: Cents
    currency: Currency
    transaction_id: Id
    balance_after: Tokens
    purchased_at: UtcDatetime


@event_contract("billing.tokens.purchase_failed", 1)
class TokensPurchaseFailed(EventPayload):
    """Billing emits this when the payment of a token package purchase fails (a declined
    card, `payment_intent.payment_failed`); no tokens were credited. `failure_code` is
    Stripe's (decline) code."""

    payment_id: Id
    payment_intent_id: Id
    user_id: Id
    package_id: Id
    amount_cents: Cents
    currency: Currency
    failure_code: str = Field(min_length=1)
    failure_message: str | None = None
    failed_at: UtcDatetime
