"""Events the billing service consumes: one subscription (queue) per handler group.

Handlers that call Stripe get the SDK client from `stripe_client` (the worker's, built from its
settings when first used) and the database of their unit of work for the idempotency keys.
"""

from __future__ import annotations

from collections.abc import Callable

import stripe

from billing.events.handlers import BillingHandlers
from billing.stripe_gateway.client import worker_stripe_client
from lib_contracts.billing import StripeEventProcessingRequested
from lib_contracts.booking import BookingStatusChanged, ExtensionApproved
from lib_contracts.content import GenerationCompleted, GenerationFailed
from lib_contracts.identity import ReferralCompleted, UserDeleted, UserRegistered
from lib_messaging.consumer import Batched, Subscription


def build_subscriptions(stripe_client: Callable[[], stripe.StripeClient]) -> list[Subscription]:
    handlers = BillingHandlers(stripe_client)
    return [
        Subscription.of(
            "users",
            {
                UserRegistered: handlers.on_user_registered,
                UserDeleted: handlers.on_user_deleted,
            },
        ),
        Subscription.of(
            "stripe-events", {StripeEventProcessingRequested: handlers.on_stripe_event}
        ),
        Subscription.of(
            "bookings",
            {
                BookingStatusChanged: handlers.on_booking_status_changed,
                ExtensionApproved: handlers.on_extension_approved,
            },
        ),
        Subscription.of(
            "generations",
            {
                GenerationCompleted: Batched(handlers.on_generations_completed),
                GenerationFailed: handlers.on_generation_failed,
            },
            # Completions are spent in one statement per batch: larger batches cost less per
            # event (bench/README.md, token reservations).
            batch_size=32,
        ),
        Subscription.of("referrals", {ReferralCompleted: handlers.on_referral_completed}),
    ]


SUBSCRIPTIONS: list[Subscription] = build_subscriptions(worker_stripe_client)
