"""Token packages bought with a PaymentIntent (seed 004's TokensPackage and StripePayment).

A purchase is a PENDING stripe_payments row (amount and tokens from the package) and an
automatic-capture PaymentIntent; with a card it is confirmed at once. The tokens are credited
only when Stripe's `payment_intent.succeeded` webhook is applied: the intent is re-read, the
row is locked, and the EARN_PURCHASE ledger row names the payment as its cause, so however
often, concurrently or out of order the webhooks arrive, the tokens are credited once. A
declined card marks the payment FAILED and credits nothing.

The row is committed before Stripe is called, and the intent carries the row's id in its
metadata, so a webhook that overtakes the request (or a crash between the two) still finds it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import or_
from sqlmodel import col, select

from billing.domain import ledger, payment_intents
from billing.domain.accounts import customer_of, ensure_stripe_customer
from billing.domain.errors import (
    NoTokenBalanceError,
    PackageNotFoundError,
    PackageNotOnSaleError,
    PaymentMethodNotFoundError,
    PurchaseNotFoundError,
)
from billing.models import (
    PaymentMethod,
    StripePayment,
    StripePaymentStatus,
    TokensPackage,
    TokenTransactionType,
    utc_now,
)
from billing.stripe_gateway import StripeGateway
from billing.stripe_gateway.mapping import PaymentIntentState
from lib_contracts.billing import TokensPurchased, TokensPurchaseFailed
from lib_database import UnitOfWork
from lib_database.keyset import newest_first_page

log = structlog.get_logger(__name__)

# The ledger's cause of a purchase's tokens: (EARN_PURCHASE, "stripe_payment", payment id).
LEDGER_SOURCE = "stripe_payment"
# Purchases retried under one Idempotency-Key get one payment id (see _payment_id).
_PAYMENT_IDS = uuid.UUID("5b0f3f7e-3c55-4f0e-9a53-0c6c3b8f4a51")
_PENDING = StripePaymentStatus.PENDING
_FINAL = (StripePaymentStatus.SUCCEEDED, StripePaymentStatus.CANCELED, StripePaymentStatus.REFUNDED)


@dataclass(frozen=True, slots=True)
class Purchase:
    payment: StripePayment
    client_secret: str | None


@dataclass(frozen=True, slots=True)
class PurchasePage:
    items: Sequence[StripePayment]
    next_cursor: str | None


def _payment_id(
    user_id: str, request_key: str | None, package_id: str, payment_method_id: str | None
) -> str:
    """A new id, or with an Idempotency-Key one derived from the request: a retry that takes
    over after a crash continues the same payment instead of charging twice."""
    if request_key is None:
        return str(uuid.uuid4())
    name = "\n".join((user_id, request_key, package_id, payment_method_id or ""))
    return str(uuid.uuid5(_PAYMENT_IDS, name))


async def _package_on_sale(uow: UnitOfWork, package_id: str) -> TokensPackage:
    package: TokensPackage | None = await uow.session.get(TokensPackage, package_id)
    if package is None:
        raise PackageNotFoundError()
    if not package.active:
        raise PackageNotOnSaleError()
    return package


async def _stripe_card(uow: UnitOfWork, user_id: str, payment_method_id: str) -> str:
    """The Stripe PaymentMethod to pay with: one of the caller's saved methods (by our id or
    its Stripe id), or a new card from Stripe.js (`pm_...`, attached with the payment).
    Another user's method is a 404, like a missing one."""
    saved: PaymentMethod | None = (
        await uow.session.execute(
            select(PaymentMethod).where(
                or_(
                    col(PaymentMethod.id) == payment_method_id,
                    col(PaymentMethod.stripe_payment_method_id) == payment_method_id,
                )
            )
        )
    ).scalar_one_or_none()
    if saved is not None:
        if saved.user_id != user_id or not saved.is_active:
            raise PaymentMethodNotFoundError()
        return saved.stripe_payment_method_id
    if payment_method_id.startswith("pm_"):
        return payment_method_id
    raise PaymentMethodNotFoundError()


async def purchase(
    uow: UnitOfWork,
    stripe: StripeGateway,
    *,
    user_id: str,
    package_id: str,
    payment_method_id: str | None,
    request_key: str | None,
) -> Purchase:
    """Start buying a package: the payment row, then its PaymentIntent (confirmed now with a
    card; else the client confirms it with the client secret). Never credits tokens."""
    payment_id = _payment_id(user_id, request_key, package_id, payment_method_id)
    async with uow:
        package = await _package_on_sale(uow, package_id)
        card = (
            await _stripe_card(uow, user_id, payment_method_id)
            if payment_method_id is not None
            else None
        )
        customer = await customer_of(uow, user_id, for_update=True)
        stripe_customer_id = await ensure_stripe_customer(uow, stripe, customer)
        payment = await _locked_purchase(uow, col(StripePayment.id) == payment_id)
        if payment is None:
            payment = StripePayment(
                id=payment_id,
                user_id=user_id,
                package_id=package.id,
                tokens_granted=package.tokens,
                amount_cents=package.price_cents,
                currency=package.currency,
                capture_method="automatic",
            )
            uow.session.add(payment)
        await uow.commit()
        payment_intent_id = payment.stripe_payment_intent_id

    if payment_intent_id is not None:  # a retry after a crash: the intent exists already
        found = await stripe.retrieve_payment_intent(payment_intent_id)
        return Purchase(payment, found.client_secret if found else None)
    state = await stripe.create_payment_intent(
        target_id=f"token-purchase:{payment_id}",
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        capture_method="automatic",
        metadata={"payment_id": payment_id, "user_id": user_id, "package_id": package.id},
        stripe_customer_id=stripe_customer_id,
        stripe_payment_method_id=card,
        confirm=card is not None,
    )

    async with uow:
        payment = await _locked_purchase(uow, col(StripePayment.id) == payment_id)
        assert payment is not None
        if payment.stripe_payment_intent_id is None:
            payment.stripe_payment_intent_id = state.payment_intent_id
            payment.updated_at = utc_now()
            uow.session.add(payment)
        if state.status is StripePaymentStatus.FAILED:
            _fail(uow, payment, state)  # a success waits for its webhook
        await uow.commit()
    return Purchase(payment, state.client_secret)


def _fail(uow: UnitOfWork, payment: StripePayment, state: PaymentIntentState) -> None:
    """The first failure of a pending payment is recorded and announced."""
    if payment.status != StripePaymentStatus.PENDING:
        return
    payment.status = StripePaymentStatus.FAILED
    payment.failure_code = state.failure_code or "payment_failed"
    payment.failure_message = state.failure_message
    payment.updated_at = utc_now()
    uow.session.add(payment)
    assert payment.package_id is not None
    uow.emit(
        TokensPurchaseFailed(
            payment_id=payment.id,
            payment_intent_id=state.payment_intent_id,
            user_id=payment.user_id,
            package_id=payment.package_id,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            failure_code=payment.failure_code,
            failure_message=payment.failure_message,
            failed_at=payment.updated_at,
        ),
        subject=payment.id,
    )


async def _credit(uow: UnitOfWork, payment: StripePayment, state: PaymentIntentState) -> None:
    """The payment succeeded: its tokens go to the user's balance, once (the caller holds the
    row's lock and has seen it not SUCCEEDED; the ledger's unique cause backs that up)."""
    assert payment.package_id is not None
    payment.status = StripePaymentStatus.SUCCEEDED
    payment.captured_at = payment.updated_at = utc_now()
    payment.failure_code = payment.failure_message = None
    uow.session.add(payment)
    try:
        posted = await ledger.post(
            uow.connection,
            user_id=payment.user_id,
            amount=payment.tokens_granted,
            type_=TokenTransactionType.EARN_PURCHASE,
            source=LEDGER_SOURCE,
            source_id=payment.id,
            metadata={"packageId": payment.package_id, "paymentIntentId": state.payment_intent_id},
        )
    except NoTokenBalanceError:
        # The user was erased meanwhile: nobody to credit (the payment record stays).
        log.warning("token_purchase.no_balance", payment_id=payment.id, user_id=payment.user_id)
        return
    uow.emit(
        TokensPurchased(
            payment_id=payment.id,
            payment_intent_id=state.payment_intent_id,
            user_id=payment.user_id,
            package_id=payment.package_id,
            tokens=payment.tokens_granted,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            transaction_id=posted.transaction_id,
            balance_after=posted.balance_after,
            purchased_at=payment.captured_at,
        ),
        subject=payment.id,
    )


async def _locked_purchase(uow: UnitOfWork, matches: Any) -> StripePayment | None:
    return await payment_intents.locked_payment(
        uow, matches, col(StripePayment.package_id).is_not(None)
    )


async def sync_intent(uow: UnitOfWork, stripe: StripeGateway, payment: StripePayment) -> None:
    """A webhook about a token package's intent (inside the consumer's unit of work, the
    payment found and locked by payment_intents.payment_of_intent): the intent's current state
    (re-read from Stripe, so an older event cannot roll it back) moves the payment forward."""
    assert payment.stripe_payment_intent_id is not None
    if payment.status in _FINAL:
        return
    state = await stripe.retrieve_payment_intent(payment.stripe_payment_intent_id)
    if state is None:
        return
    if state.status is StripePaymentStatus.SUCCEEDED:
        await _credit(uow, payment, state)
    elif state.status is StripePaymentStatus.FAILED:
        _fail(uow, payment, state)
    elif state.status is StripePaymentStatus.CANCELED and payment.status == _PENDING:
        payment.status = StripePaymentStatus.CANCELED
        payment.updated_at = utc_now()
        uow.session.add(payment)


async def list_mine(
    uow: UnitOfWork, user_id: str, *, limit: int, cursor: str | None
) -> PurchasePage:
    """The caller's token purchases, newest first."""
    statement = select(StripePayment).where(
        col(StripePayment.user_id) == user_id, col(StripePayment.package_id).is_not(None)
    )
    async with uow:
        rows, next_cursor = await newest_first_page(
            uow.session, statement, StripePayment, limit=limit, cursor=cursor
        )
    return PurchasePage(rows, next_cursor)


async def get_mine(uow: UnitOfWork, user_id: str, payment_id: str) -> StripePayment:
    """One of the caller's purchases; another user's is a 404 like a missing one."""
    async with uow:
        payment: StripePayment | None = (
            await uow.session.execute(
                select(StripePayment).where(
                    col(StripePayment.id) == payment_id,
                    col(StripePayment.user_id) == user_id,
                    col(StripePayment.package_id).is_not(None),
                )
            )
        ).scalar_one_or_none()
    if payment is None:
        raise PurchaseNotFoundError()
    return payment
