"""Stripe's webhook deliveries: POST /api/v1/webhooks/stripe.

The signature is checked against the raw body; a verified event is stored once and processed
by the worker, so the answer is fast and a repeated delivery is acknowledged without effect.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request

from billing.api.schemas import WebhookAck
from billing.config import BillingSettings
from billing.domain import stripe_events
from billing.stripe_gateway.webhooks import InvalidWebhookError, verify_and_parse
from lib_runtime.dependencies import UnitOfWorkDep
from lib_web.problems import BadRequestError

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


@router.post("/stripe")
async def receive_stripe_event(
    request: Request,
    uow: UnitOfWorkDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookAck:
    settings: BillingSettings = request.app.state.settings
    body = await request.body()
    try:
        event = verify_and_parse(
            body,
            stripe_signature,
            settings.webhook_secrets(),
            settings.stripe_webhook_tolerance_s,
        )
    except InvalidWebhookError as error:
        raise BadRequestError(f"Webhook not accepted: {error}") from None
    stored = await stripe_events.record(uow, event, body)
    return WebhookAck(received=True, duplicate=not stored)
