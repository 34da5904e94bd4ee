"""Public (/api/v1) and internal (/internal) routes of the billing service."""

from fastapi import APIRouter

from billing.api import (
    admin_tokens,
    internal_payments,
    payment_methods,
    plans,
    reservations,
    subscription,
    token_purchases,
    tokens,
    vouchers,
    webhooks,
)

ROUTERS: list[APIRouter] = [
    plans.router,
    subscription.router,
    payment_methods.router,
    webhooks.router,
    internal_payments.router,
    tokens.router,
    vouchers.router,
    admin_tokens.router,
    reservations.router,
    token_purchases.router,
]
