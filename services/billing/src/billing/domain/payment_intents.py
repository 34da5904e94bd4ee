"""Which of our payments a PaymentIntent webhook is about: the payment storing the intent's id,
else the one the intent's metadata names (`payment_id`). Every payment row is committed before
its intent is created, so a webhook that overtakes the request storing the intent id (or
follows a crash between Stripe's answer and that write) still finds its payment."""

from __future__ import annotations

from typing import Any

import structlog
from sqlmodel import col, select

from billing.models import StripePayment
from lib_database import UnitOfWork

log = structlog.get_logger(__name__)


async def locked_payment(uow: UnitOfWork, *matches: Any) -> StripePayment | None:
    """The payment matching `matches`, locked until the transaction ends."""
    payment: StripePayment | None = (
        await uow.session.execute(select(StripePayment).where(*matches).with_for_update())
    ).scalar_one_or_none()
    return payment


async def payment_of_intent(
    uow: UnitOfWork, payment_intent_id: str, *, payment_id: str | None
) -> StripePayment | None:
    """The payment (locked) a webhook about `payment_intent_id` is about, taking the intent's
    id if it had none yet; None if it is not ours."""
    payment = await locked_payment(
        uow, col(StripePayment.stripe_payment_intent_id) == payment_intent_id
    )
    if payment is None and payment_id is not None:
        payment = await locked_payment(uow, col(StripePayment.id) == payment_id)
    if payment is None:
        return None
    if payment.stripe_payment_intent_id is None:
        payment.stripe_payment_intent_id = payment_intent_id
        uow.session.add(payment)
    elif payment.stripe_payment_intent_id != payment_intent_id:
        log.error("stripe_payment.foreign_intent", payment_id=payment.id, pi=payment_intent_id)
        return None
    return payment
