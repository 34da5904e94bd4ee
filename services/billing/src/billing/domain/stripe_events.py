"""The Stripe webhook inbox: a verified event is stored once (its Stripe id is unique) and a
command to process it goes through the outbox in the same transaction; the billing worker
then applies it, once, however often Stripe delivers it."""

from __future__ import annotations

import json
from datetime import datetime

import structlog
from sqlalchemy import text, update
from sqlmodel import col

from billing.domain import booking_payments, locks, payment_intents, subscriptions, token_purchases
from billing.models import StripeEvent, utc_now
from billing.stripe_gateway import StripeGateway
from billing.stripe_gateway.webhooks import WebhookEvent
from lib_contracts.billing import StripeEventProcessingRequested
from lib_database import UnitOfWork

log = structlog.get_logger(__name__)

_MAX_ERROR_LENGTH = 2000
SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
    }
)


async def record(uow: UnitOfWork, event: WebhookEvent, raw_body: bytes) -> bool:
    """Store a verified event and ask for its processing; False if it was stored before."""
    async with uow:
        row = StripeEvent(
            stripe_event_id=event.stripe_event_id,
            type=event.type,
            api_version=event.api_version,
            livemode=event.livemode,
            object_id=event.object_id,
            stripe_created_at=event.created,
            payload=raw_body.decode("utf-8"),
        )
        inserted = (
            await uow.connection.execute(
                text(
                    "INSERT INTO stripe_events (id, stripe_event_id, type, api_version, "
                    "livemode, object_id, stripe_created_at, payload, received_at, attempts) "
                    "VALUES (:id, :stripe_event_id, :type, :api_version, :livemode, "
                    ":object_id, :stripe_created_at, :payload, :received_at, 0) "
                    "ON CONFLICT (stripe_event_id) DO NOTHING RETURNING id"
                ),
                {
                    "id": row.id,
                    "stripe_event_id": row.stripe_event_id,
                    "type": row.type,
                    "api_version": row.api_version,
                    "livemode": row.livemode,
                    "object_id": row.object_id,
                    "stripe_created_at": row.stripe_created_at,
                    "payload": row.payload,
                    "received_at": row.received_at,
                },
            )
        ).first()
        if inserted is None:
            return False
        uow.emit(
            StripeEventProcessingRequested(
                stripe_event_row_id=row.id,
                stripe_event_id=row.stripe_event_id,
                stripe_event_type=row.type,
            ),
            subject=row.stripe_event_id,
        )
        await uow.commit()
        return True


async def process(
    uow: UnitOfWork, stripe: StripeGateway, stripe_event_row_id: str, *, now: datetime
) -> None:
    """Apply one stored event (inside the consumer's unit of work) and mark it processed.
    A failure is recorded on the event in a transaction of its own (the consumer's rolls back
    and the message is retried, up to the dead-letter queue), for operators to see."""
    # Deliveries of one event wait for each other on an advisory lock, not on the row's lock,
    # so that a failure can be written to the row while this transaction is still open.
    await locks.serialize(uow, f"stripe_event:{stripe_event_row_id}")
    event: StripeEvent | None = await uow.session.get(StripeEvent, stripe_event_row_id)
    if event is None or event.processed_at is not None:
        return
    try:
        await _apply(uow, stripe, event, now=now)
    except Exception as error:
        await _record_failure(uow, stripe_event_row_id, error)
        raise
    event.attempts += 1
    event.processed_at = utc_now()
    uow.session.add(event)


async def _record_failure(uow: UnitOfWork, stripe_event_row_id: str, error: Exception) -> None:
    message = f"{type(error).__name__}: {error}"[:_MAX_ERROR_LENGTH]
    log.warning("stripe_event.failed", stripe_event_row_id=stripe_event_row_id, error=message)
    async with uow.database.engine.begin() as connection:
        await connection.execute(
            update(StripeEvent)
            .where(col(StripeEvent.id) == stripe_event_row_id)
            .values(attempts=col(StripeEvent.attempts) + 1, last_error=message)
        )


async def _apply(
    uow: UnitOfWork, stripe: StripeGateway, event: StripeEvent, *, now: datetime
) -> None:
    if event.type in SUBSCRIPTION_EVENTS and event.object_id is not None:
        await subscriptions.sync_from_stripe(
            uow, stripe, event.object_id, now=now, event_created_at=event.stripe_created_at
        )
    elif event.type.startswith("payment_intent.") and event.object_id is not None:
        # Our intents name their payment in the metadata: found even before its id is stored.
        metadata = json.loads(event.payload)["data"]["object"].get("metadata") or {}
        payment_id = metadata.get("payment_id")
        payment = await payment_intents.payment_of_intent(
            uow, event.object_id, payment_id=str(payment_id) if payment_id else None
        )
        if payment is None:
            return
        if payment.package_id is not None:
            await token_purchases.sync_intent(uow, stripe, payment)
        else:
            await booking_payments.sync_intent(uow, stripe, payment)
    elif event.type == "invoice.payment_succeeded":
        subscription_id = json.loads(event.payload)["data"]["object"].get("subscription")
        if subscription_id:  # a renewal: the subscription has a new period
            await subscriptions.sync_from_stripe(
                uow, stripe, str(subscription_id), now=now, event_created_at=event.stripe_created_at
            )
