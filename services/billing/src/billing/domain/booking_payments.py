"""Payments for bookings and extensions (seed 002): a manual-capture PaymentIntent created for
booking, captured when the booking is completed, cancelled or refunded when it is cancelled;
an approved extension is charged. Each outcome is announced once, on the transition:
billing.payment.succeeded / .failed naming the booking or the extension.

A payment names exactly one target: an extension's payment names the extension only.
Its row is committed (PENDING) before its intent is created, and the intent names it in its
metadata, so a webhook that overtakes Stripe's answer still finds it (payment_intents). A
payment only moves forward (a late webhook showing an older state changes nothing), so the
answer and the webhook together announce its outcome once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert
from sqlmodel import col, select

from billing.domain import locks, payment_intents
from billing.models import Customer, PaymentMethod, StripePayment, StripePaymentStatus, utc_now
from billing.stripe_gateway import StripeGateway
from billing.stripe_gateway.mapping import PaymentIntentState
from lib_contracts.billing import PaymentFailed, PaymentSucceeded
from lib_database import UnitOfWork
from lib_web.problems import ProblemError

_RANK = {
    StripePaymentStatus.PENDING: 0,
    StripePaymentStatus.FAILED: 1,
    StripePaymentStatus.AUTHORIZED: 2,
    StripePaymentStatus.SUCCEEDED: 3,
    StripePaymentStatus.CANCELED: 4,
    StripePaymentStatus.REFUNDED: 4,
}
_OPEN = (StripePaymentStatus.PENDING, StripePaymentStatus.AUTHORIZED)


@dataclass(frozen=True, slots=True)
class BookingPayment:
    payment: StripePayment
    client_secret: str | None


class PaymentTargetError(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            422, "Unprocessable Content", "Name exactly one of bookingId and extensionId."
        )


def _may_move(current: str, new: StripePaymentStatus) -> bool:
    """Forward only; a failed attempt may still be followed by a successful one."""
    old = StripePaymentStatus(current)
    if old in (StripePaymentStatus.CANCELED, StripePaymentStatus.REFUNDED):
        return False
    return _RANK[new] > _RANK[old]


def _apply(uow: UnitOfWork, payment: StripePayment, state: PaymentIntentState) -> None:
    """Take the intent's state if it moves the payment forward; announce the outcome."""
    if not _may_move(payment.status, state.status):
        return
    payment.status = state.status
    payment.updated_at = utc_now()
    if state.status is StripePaymentStatus.SUCCEEDED:
        payment.captured_at = payment.updated_at
    if state.status is StripePaymentStatus.FAILED:
        payment.failure_code = state.failure_code or "payment_failed"
        payment.failure_message = state.failure_message
    uow.session.add(payment)
    if payment.booking_id is None and payment.extension_id is None:
        return  # a token package: credited by the token ledger, not announced to booking
    if state.status is StripePaymentStatus.SUCCEEDED:
        uow.emit(
            PaymentSucceeded(
                payment_intent_id=state.payment_intent_id,
                booking_id=payment.booking_id,
                extension_id=payment.extension_id,
                user_id=payment.user_id,
                amount_cents=payment.amount_cents,
                currency=payment.currency,
                succeeded_at=payment.updated_at,
            ),
            subject=payment.extension_id or payment.booking_id or payment.id,
        )
    elif state.status is StripePaymentStatus.FAILED:
        uow.emit(
            PaymentFailed(
                payment_intent_id=state.payment_intent_id,
                booking_id=payment.booking_id,
                extension_id=payment.extension_id,
                user_id=payment.user_id,
                amount_cents=payment.amount_cents,
                currency=payment.currency,
                failure_code=payment.failure_code or "payment_failed",
                failure_message=payment.failure_message,
                failed_at=payment.updated_at,
            ),
            subject=payment.extension_id or payment.booking_id or payment.id,
        )


async def _stripe_customer_id(uow: UnitOfWork, user_id: str) -> str | None:
    found: str | None = (
        await uow.session.execute(
            select(col(Customer.stripe_customer_id)).where(col(Customer.user_id) == user_id)
        )
    ).scalar_one_or_none()
    return found


async def _default_card(uow: UnitOfWork, user_id: str) -> str | None:
    found: str | None = (
        await uow.session.execute(
            select(col(PaymentMethod.stripe_payment_method_id)).where(
                col(PaymentMethod.user_id) == user_id, col(PaymentMethod.is_default)
            )
        )
    ).scalar_one_or_none()
    return found


async def _latest_for(
    uow: UnitOfWork, *, booking_id: str | None = None, extension_id: str | None = None
) -> StripePayment | None:
    statement = select(StripePayment).order_by(col(StripePayment.created_at).desc()).limit(1)
    if extension_id is not None:
        statement = statement.where(col(StripePayment.extension_id) == extension_id)
    else:
        statement = statement.where(
            col(StripePayment.booking_id) == booking_id, col(StripePayment.extension_id).is_(None)
        )
    payment: StripePayment | None = (
        await uow.session.execute(statement.with_for_update())
    ).scalar_one_or_none()
    return payment


async def authorize(
    uow: UnitOfWork,
    stripe: StripeGateway,
    *,
    user_id: str,
    booking_id: str | None,
    extension_id: str | None,
    amount_cents: int,
    currency: str,
    stripe_payment_method_id: str | None,
) -> BookingPayment:
    """A manual-capture PaymentIntent for a booking (or an extension), or the open one it
    already has. With a payment method it is confirmed now (the amount is held on the card);
    without one the client confirms it with the client secret."""
    if (booking_id is None) == (extension_id is None):
        raise PaymentTargetError()
    async with uow:
        # One payment decision per booking or extension at a time, so two requests arriving
        # together cannot both create a payment.
        await locks.serialize(
            uow, f"extension:{extension_id}" if extension_id else f"booking:{booking_id}"
        )
        existing = await _latest_for(uow, booking_id=booking_id, extension_id=extension_id)
        if (
            existing is not None
            and existing.stripe_payment_intent_id is not None
            and (existing.status in _OPEN or existing.status == StripePaymentStatus.SUCCEEDED)
        ):
            state = await stripe.retrieve_payment_intent(existing.stripe_payment_intent_id)
            return BookingPayment(existing, state.client_secret if state else None)
        if existing is not None and existing.status == StripePaymentStatus.PENDING:
            payment = existing  # its intent was never stored (Stripe failed): continue it
        elif extension_id is not None and existing is not None:
            raise ProblemError(409, "Conflict", "The extension's payment is closed.")
        else:
            payment = StripePayment(
                user_id=user_id,
                booking_id=booking_id,
                extension_id=extension_id,
                amount_cents=amount_cents,
                currency=currency,
                capture_method="manual",
            )
            uow.session.add(payment)
        stripe_customer_id = await _stripe_customer_id(uow, user_id)
        # Committed before Stripe is called: the intent's webhook can find it by its id.
        await uow.commit()

    state = await _create_intent(
        stripe,
        payment,
        stripe_customer_id=stripe_customer_id,
        stripe_payment_method_id=stripe_payment_method_id,
    )
    async with uow:
        locked = await payment_intents.locked_payment(uow, col(StripePayment.id) == payment.id)
        assert locked is not None
        _take_intent(uow, locked, state)
        await uow.commit()
    return BookingPayment(locked, state.client_secret)


async def _create_intent(
    stripe: StripeGateway,
    payment: StripePayment,
    *,
    stripe_customer_id: str | None,
    stripe_payment_method_id: str | None,
    booking_id: str | None = None,
) -> PaymentIntentState:
    """The payment's intent (one per payment: a retry gets the same one), naming the payment
    in its metadata (and the booking an extension belongs to); confirmed now when a payment
    method is given."""
    booking_id = booking_id or payment.booking_id
    return await stripe.create_payment_intent(
        target_id=f"payment:{payment.id}",
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        capture_method=payment.capture_method,
        metadata={
            "payment_id": payment.id,
            "user_id": payment.user_id,
            **({"booking_id": booking_id} if booking_id else {}),
            **({"extension_id": payment.extension_id} if payment.extension_id else {}),
        },
        stripe_customer_id=stripe_customer_id,
        stripe_payment_method_id=stripe_payment_method_id,
        confirm=stripe_payment_method_id is not None,
    )


def _take_intent(uow: UnitOfWork, payment: StripePayment, state: PaymentIntentState) -> None:
    """Stripe's answer: the intent id (unless a webhook stored it first) and its state."""
    if payment.stripe_payment_intent_id is None:
        payment.stripe_payment_intent_id = state.payment_intent_id
        uow.session.add(payment)
    _apply(uow, payment, state)


async def capture_booking(
    uow: UnitOfWork, stripe: StripeGateway, booking_id: str, payment_intent_id: str | None
) -> None:
    """The booking is completed: capture its held payment (inside the consumer's unit of work)."""
    payment = await _payment_of_booking(uow, booking_id, payment_intent_id)
    if payment is None or payment.stripe_payment_intent_id is None:
        return
    if payment.status not in _OPEN and payment.status != StripePaymentStatus.FAILED:
        return  # captured, cancelled or refunded already
    state = await stripe.retrieve_payment_intent(payment.stripe_payment_intent_id)
    if state is None:
        return
    if state.status is StripePaymentStatus.AUTHORIZED:
        state = await stripe.capture_payment_intent(state.payment_intent_id)
    elif state.status is StripePaymentStatus.PENDING:
        # Completed without ever being authorised: nothing can be captured.
        state = _failed_here(
            state.payment_intent_id,
            payment,
            "payment_not_authorized",
            "The payment was never authorised; nothing to capture.",
        )
    _apply(uow, payment, state)


async def release_booking(
    uow: UnitOfWork, stripe: StripeGateway, booking_id: str, payment_intent_id: str | None
) -> None:
    """The booking is cancelled: release a held amount, refund a captured one."""
    payment = await _payment_of_booking(uow, booking_id, payment_intent_id)
    if payment is None or payment.stripe_payment_intent_id is None:
        return
    if payment.status in _OPEN or payment.status == StripePaymentStatus.FAILED:
        state = await stripe.retrieve_payment_intent(payment.stripe_payment_intent_id)
        if state is not None and state.status is StripePaymentStatus.SUCCEEDED:
            await stripe.refund_payment_intent(state.payment_intent_id, target_id=payment.id)
            payment.status = StripePaymentStatus.REFUNDED
        elif state is not None and state.status is not StripePaymentStatus.CANCELED:
            await stripe.cancel_payment_intent(state.payment_intent_id)
            payment.status = StripePaymentStatus.CANCELED
        else:
            payment.status = StripePaymentStatus.CANCELED
    elif payment.status == StripePaymentStatus.SUCCEEDED:
        await stripe.refund_payment_intent(payment.stripe_payment_intent_id, target_id=payment.id)
        payment.status = StripePaymentStatus.REFUNDED
    else:
        return
    payment.updated_at = utc_now()
    uow.session.add(payment)


async def _payment_of_booking(
    uow: UnitOfWork, booking_id: str, payment_intent_id: str | None
) -> StripePayment | None:
    if payment_intent_id is not None:
        by_intent: StripePayment | None = (
            await uow.session.execute(
                select(StripePayment)
                .where(col(StripePayment.stripe_payment_intent_id) == payment_intent_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if by_intent is not None:
            return by_intent
    return await _latest_for(uow, booking_id=booking_id)


async def charge_extension(
    uow: UnitOfWork,
    stripe: StripeGateway,
    *,
    extension_id: str,
    booking_id: str,
    user_id: str,
    amount_cents: int,
    currency: str,
) -> None:
    """An approved extension is charged (inside the consumer's unit of work): its held
    payment is captured, or the user's default card is charged now."""
    await locks.serialize(uow, f"extension:{extension_id}")
    payment = await _latest_for(uow, extension_id=extension_id)
    if payment is not None and payment.stripe_payment_intent_id is not None:
        if payment.status in _OPEN:
            state = await stripe.retrieve_payment_intent(payment.stripe_payment_intent_id)
            if state is not None and state.status is StripePaymentStatus.AUTHORIZED:
                state = await stripe.capture_payment_intent(state.payment_intent_id)
            if state is not None:
                _apply(uow, payment, state)
        return  # charged (or failed) before: once per extension
    if payment is not None and payment.status != StripePaymentStatus.PENDING:
        return  # failed without reaching Stripe (no card): once per extension
    card = await _default_card(uow, user_id)
    if payment is None:  # else a charge interrupted before Stripe answered: continue it
        payment = StripePayment(  # one target per payment: the extension only
            user_id=user_id,
            extension_id=extension_id,
            amount_cents=amount_cents,
            currency=currency,
            capture_method="automatic",
        )
        if card is None:
            uow.session.add(payment)
            await uow.session.flush()
        else:
            payment = await _committed_pending(uow, payment)
    if card is None:
        _apply(
            uow,
            payment,
            _failed_here(
                f"none:{payment.id}",
                payment,
                "no_payment_method",
                "The user has no default payment method.",
            ),
        )
        return
    state = await _create_intent(
        stripe,
        payment,
        stripe_customer_id=await _stripe_customer_id(uow, user_id),
        stripe_payment_method_id=card,
        booking_id=booking_id,
    )
    _take_intent(uow, payment, state)


def _failed_here(
    payment_intent_id: str, payment: StripePayment, code: str, message: str
) -> PaymentIntentState:
    """A failure we decide (Stripe could not be asked to charge), in Stripe's terms."""
    return PaymentIntentState(
        payment_intent_id=payment_intent_id,
        status=StripePaymentStatus.FAILED,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        client_secret=None,
        failure_code=code,
        failure_message=message,
    )


async def _committed_pending(uow: UnitOfWork, payment: StripePayment) -> StripePayment:
    """Store the payment in a transaction of its own, before Stripe is called (the consumer's
    transaction commits only after the call): the intent's webhook, or a redelivery after a
    crash, finds it. Returned locked in `uow`'s transaction."""
    async with uow.database.engine.begin() as connection:
        await connection.execute(insert(StripePayment).values(**payment.model_dump()))
    locked = await payment_intents.locked_payment(uow, col(StripePayment.id) == payment.id)
    assert locked is not None
    return locked


async def sync_intent(uow: UnitOfWork, stripe: StripeGateway, payment: StripePayment) -> None:
    """A webhook about a booking or extension intent (inside the consumer's unit of work, the
    payment found and locked by payment_intents.payment_of_intent): the intent's current state
    (re-read from Stripe) moves the payment forward."""
    assert payment.stripe_payment_intent_id is not None
    state = await stripe.retrieve_payment_intent(payment.stripe_payment_intent_id)
    if state is not None:
        _apply(uow, payment, state)
