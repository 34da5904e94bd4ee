"""Public (/api/v1) and internal (/internal) routes of the billing service."""

from fastapi import APIRouter

from billing.api import internal_payments, payment_methods, plans, subscription, webhooks

ROUTERS: list[APIRouter] = [
    plans.router,
    subscription.router,
    payment_methods.router,
    webhooks.router,
    internal_payments.router,
]
