"""Payments for bookings and extensions, for the booking service: /internal/payments."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from billing.api.dependencies import StripeDep
from billing.api.schemas import AuthorizePaymentRequest, BookingPaymentResponse
from billing.domain import booking_payments
from lib_auth import require_internal_caller
from lib_runtime.dependencies import UnitOfWorkDep

router = APIRouter(
    prefix="/internal/payments",
    tags=["internal"],
    dependencies=[Depends(require_internal_caller)],
)


@router.post("")
async def authorize_payment(
    body: AuthorizePaymentRequest, uow: UnitOfWorkDep, stripe: StripeDep
) -> BookingPaymentResponse:
    """A manual-capture PaymentIntent for a booking or an extension (the open one if it has
    one already, so a retry is safe); captured when the booking is completed."""
    result = await booking_payments.authorize(
        uow,
        stripe,
        user_id=body.user_id,
        booking_id=body.booking_id,
        extension_id=body.extension_id,
        amount_cents=body.amount_cents,
        currency=body.currency,
        stripe_payment_method_id=body.payment_method_id,
    )
    payment = result.payment
    return BookingPaymentResponse(
        payment_id=payment.id,
        payment_intent_id=payment.stripe_payment_intent_id,
        client_secret=result.client_secret,
        status=payment.status,
        booking_id=payment.booking_id,
        extension_id=payment.extension_id,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        failure_code=payment.failure_code,
    )
