"""Everything that talks to Stripe: the SDK client, the gateway (one method per call we make,
each create call with an idempotency key stored first), the mapping of Stripe objects onto our
terms, and webhook signature checks."""

from billing.stripe_gateway.client import make_stripe_client
from billing.stripe_gateway.gateway import StripeGateway, StripeRequestError
from billing.stripe_gateway.mapping import CardDetails, StripeSubscriptionState

__all__ = [
    "CardDetails",
    "StripeGateway",
    "StripeRequestError",
    "StripeSubscriptionState",
    "make_stripe_client",
]
