"""The Stripe SDK client of the service, built from its settings (async over httpx)."""

from __future__ import annotations

from functools import cache

import stripe

from billing.config import BillingSettings


def make_stripe_client(
    settings: BillingSettings, http_client: stripe.HTTPXClient | None = None
) -> stripe.StripeClient:
    """The SDK client; pass `http_client` to close its connections yourself at shutdown."""
    return stripe.StripeClient(
        settings.stripe_api_key.get_secret_value(),
        base_addresses={"api": settings.stripe_api_base.rstrip("/")},
        http_client=http_client or stripe.HTTPXClient(timeout=settings.stripe_timeout_s),
        max_network_retries=settings.stripe_max_network_retries,
    )


@cache
def worker_stripe_client() -> stripe.StripeClient:
    """The worker process's client, built from the environment's settings when first used."""
    return make_stripe_client(BillingSettings())
