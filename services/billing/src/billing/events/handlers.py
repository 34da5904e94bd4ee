"""Handlers of the events billing consumes; each runs inside the consumer's unit of work."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import stripe
import structlog
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from billing.domain import (
    accounts,
    booking_payments,
    regeneration,
    reservations,
    stripe_events,
    subscriptions,
    tokens,
)
from billing.models import Customer, new_id, utc_now
from billing.stripe_gateway import StripeGateway, StripeRequestError
from lib_contracts.billing import StripeEventProcessingRequested
from lib_contracts.booking import BookingStatusChanged, ExtensionApproved
from lib_contracts.content import GenerationCompleted, GenerationFailed
from lib_contracts.identity import ReferralCompleted, UserDeleted, UserRegistered
from lib_database import UnitOfWork
from lib_messaging.envelope import Envelope

log = structlog.get_logger(__name__)


class BillingHandlers:
    def __init__(self, stripe_client: Callable[[], stripe.StripeClient]) -> None:
        self._stripe_client = stripe_client

    def _gateway(self, uow: UnitOfWork) -> StripeGateway:
        return StripeGateway(self._stripe_client(), uow.database)

    async def on_user_registered(
        self, payload: UserRegistered, envelope: Envelope, uow: UnitOfWork
    ) -> None:
        """A Stripe customer and the free plan for the new user."""
        created = (
            await uow.session.execute(
                insert(Customer)
                .values(
                    id=new_id(),
                    user_id=payload.user_id,
                    email=payload.email,
                    name=payload.name,
                    created_at=utc_now(),
                    updated_at=utc_now(),
                )
                .on_conflict_do_nothing(index_elements=["user_id"])
                .returning(col(Customer.id))
            )
        ).first()
        if created is None:
            return  # registered before, or deleted already (a tombstone)
        customer: Customer = (
            await uow.session.execute(
                select(Customer).where(col(Customer.user_id) == payload.user_id)
            )
        ).scalar_one()
        await subscriptions.start_free_plan(uow, customer)
        await regeneration.open_balance(uow.connection, payload.user_id, now=utc_now())
        try:
            await accounts.ensure_stripe_customer(uow, self._gateway(uow), customer)
        except StripeRequestError as error:
            # The free plan does not wait for Stripe: the customer is created at first need
            # (a card, a paid plan), under the same idempotency key.
            log.warning("stripe.customer_deferred", user_id=payload.user_id, error=str(error))

    async def on_user_deleted(
        self, payload: UserDeleted, envelope: Envelope, uow: UnitOfWork
    ) -> None:
        await accounts.erase_user(uow, self._gateway(uow), payload.user_id)

    async def on_stripe_event(
        self, payload: StripeEventProcessingRequested, envelope: Envelope, uow: UnitOfWork
    ) -> None:
        await stripe_events.process(
            uow, self._gateway(uow), payload.stripe_event_row_id, now=utc_now()
        )

    async def on_booking_status_changed(
        self, payload: BookingStatusChanged, envelope: Envelope, uow: UnitOfWork
    ) -> None:
        """Completed: capture the held payment. Cancelled: release or refund it."""
        if payload.status == "COMPLETED":
            await booking_payments.capture_booking(
                uow, self._gateway(uow), payload.booking_id, payload.payment_intent_id
            )
        elif payload.status == "CANCELLED":
            await booking_payments.release_booking(
                uow, self._gateway(uow), payload.booking_id, payload.payment_intent_id
            )

    async def on_extension_approved(
        self, payload: ExtensionApproved, envelope: Envelope, uow: UnitOfWork
    ) -> None:
        await booking_payments.charge_extension(
            uow,
            self._gateway(uow),
            extension_id=payload.extension_id,
            booking_id=payload.booking_id,
            user_id=payload.user_id,
            amount_cents=payload.amount_cents,
            currency=payload.currency,
        )

    async def on_generations_completed(
        self, events: Sequence[tuple[GenerationCompleted, Envelope]], uow: UnitOfWork
    ) -> None:
        """The jobs' held tokens are spent, once each, in as few statements as the batch
        allows (retried while a reservation is unknown)."""
        await reservations.commit_many(
            uow.connection,
            [
                reservations.Completion(
                    reservation_id=payload.reservation_id,
                    job_id=payload.generation_id,
                    user_id=payload.user_id,
                    metadata={"kind": payload.kind, "generationId": payload.generation_id},
                )
                for payload, _ in events
            ],
        )

    async def on_generation_failed(
        self, payload: GenerationFailed, envelope: Envelope, uow: UnitOfWork
    ) -> None:
        """The job's held tokens go back to the spendable balance."""
        await reservations.release(
            uow.connection,
            reservation_id=payload.reservation_id,
            job_id=payload.generation_id,
            user_id=payload.user_id,
            amount=payload.tokens_reserved,
            source=payload.kind,
        )

    async def on_referral_completed(
        self, payload: ReferralCompleted, envelope: Envelope, uow: UnitOfWork
    ) -> None:
        await tokens.reward_referral(uow, payload)
