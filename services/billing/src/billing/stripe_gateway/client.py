"""The Stripe SDK client of the service, built from its settings (async over httpx)."""

from __future__ import annotations

from functools import cache

import stripe

from billing.config import BillingSettings


def make_stripe_client(settings: BillingSettings) -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.stripe_api_key.get_secret_value(),
        base_addresses={"api": settings.stripe_api_base.rstrip("/")},
        http_client=stripe.HTTPXClient(timeout=settings.stripe_timeout_s),
        max_network_retries=settings.stripe_max_network_retries,
    )


@cache
def worker_stripe_client() -> stripe.StripeClient:
    """The worker process's client, built from the environment's settings when first used."""
    return make_stripe_client(BillingSettings())
