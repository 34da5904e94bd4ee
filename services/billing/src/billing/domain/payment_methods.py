"""A user's payment methods (seed 002): attach a Stripe PaymentMethod, list, choose the
default (the one subscriptions are charged to), detach. Another user's method is a 404."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import col, select

from billing.domain.accounts import customer_of, ensure_stripe_customer
from billing.domain.errors import PaymentMethodNotFoundError
from billing.models import PaymentMethod, utc_now
from billing.stripe_gateway import StripeGateway
from lib_database import UnitOfWork
from lib_database.keyset import newest_first_page


@dataclass(frozen=True, slots=True)
class PaymentMethodPage:
    items: Sequence[PaymentMethod]
    next_cursor: str | None


async def list_mine(
    uow: UnitOfWork, user_id: str, *, limit: int, cursor: str | None
) -> PaymentMethodPage:
    statement = select(PaymentMethod).where(
        col(PaymentMethod.user_id) == user_id, col(PaymentMethod.is_active)
    )
    async with uow:
        rows, next_cursor = await newest_first_page(
            uow.session, statement, PaymentMethod, limit=limit, cursor=cursor
        )
    return PaymentMethodPage(rows, next_cursor)


async def _mine(uow: UnitOfWork, user_id: str, payment_method_id: str) -> PaymentMethod:
    found: PaymentMethod | None = (
        await uow.session.execute(
            select(PaymentMethod)
            .where(
                col(PaymentMethod.id) == payment_method_id,
                col(PaymentMethod.user_id) == user_id,
                col(PaymentMethod.is_active),
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if found is None:
        raise PaymentMethodNotFoundError()
    return found


async def _make_default(uow: UnitOfWork, method: PaymentMethod) -> None:
    # The old default goes first: at most one default per user (a partial unique index).
    await uow.session.execute(
        update(PaymentMethod)
        .where(
            col(PaymentMethod.user_id) == method.user_id,
            col(PaymentMethod.is_default),
            col(PaymentMethod.id) != method.id,
        )
        .values(is_default=False, updated_at=utc_now())
    )
    method.is_default = True
    method.updated_at = utc_now()
    uow.session.add(method)
    await uow.session.flush()


async def attach(
    uow: UnitOfWork,
    stripe: StripeGateway,
    user_id: str,
    stripe_payment_method_id: str,
    *,
    make_default: bool,
    request_id: str,
) -> PaymentMethod:
    """Attach the method to the user's Stripe customer; the first one becomes the default."""
    async with uow:
        customer = await customer_of(uow, user_id, for_update=True)
        stripe_customer_id = await ensure_stripe_customer(uow, stripe, customer)
        card = await stripe.attach_payment_method(
            stripe_payment_method_id, stripe_customer_id=stripe_customer_id, request_id=request_id
        )
        known: PaymentMethod | None = (
            await uow.session.execute(
                select(PaymentMethod).where(
                    col(PaymentMethod.stripe_payment_method_id) == card.stripe_payment_method_id
                )
            )
        ).scalar_one_or_none()
        if known is not None:  # attached before (Stripe answers an attach again with it)
            if known.user_id != user_id:
                raise PaymentMethodNotFoundError()
            if make_default and not known.is_default:
                await _make_default(uow, known)
                await stripe.set_default_payment_method(
                    stripe_customer_id, card.stripe_payment_method_id
                )
            await uow.commit()
            return known
        has_default = (
            await uow.session.execute(
                select(col(PaymentMethod.id)).where(
                    col(PaymentMethod.user_id) == user_id, col(PaymentMethod.is_default)
                )
            )
        ).first() is not None
        method = PaymentMethod(
            user_id=user_id,
            stripe_payment_method_id=card.stripe_payment_method_id,
            type=card.type,
            card_brand=card.card_brand,
            card_last4=card.card_last4,
            card_exp_month=card.card_exp_month,
            card_exp_year=card.card_exp_year,
        )
        uow.session.add(method)
        await uow.session.flush()
        if make_default or not has_default:
            await _make_default(uow, method)
            await stripe.set_default_payment_method(
                stripe_customer_id, card.stripe_payment_method_id
            )
        await uow.commit()
        return method


async def set_default(
    uow: UnitOfWork, stripe: StripeGateway, user_id: str, payment_method_id: str
) -> PaymentMethod:
    async with uow:
        customer = await customer_of(uow, user_id, for_update=True)
        method = await _mine(uow, user_id, payment_method_id)
        if not method.is_default:
            await _make_default(uow, method)
            stripe_customer_id = await ensure_stripe_customer(uow, stripe, customer)
            await stripe.set_default_payment_method(
                stripe_customer_id, method.stripe_payment_method_id
            )
        await uow.commit()
        return method


async def detach(
    uow: UnitOfWork, stripe: StripeGateway, user_id: str, payment_method_id: str
) -> None:
    """Detach the method at Stripe and forget it; if it was the default, the newest other
    method becomes the default."""
    async with uow:
        customer = await customer_of(uow, user_id, for_update=True)
        method = await _mine(uow, user_id, payment_method_id)
        await stripe.detach_payment_method(method.stripe_payment_method_id)
        was_default = method.is_default
        await uow.session.delete(method)
        await uow.session.flush()
        if was_default:
            successor: PaymentMethod | None = (
                await uow.session.execute(
                    select(PaymentMethod)
                    .where(col(PaymentMethod.user_id) == user_id, col(PaymentMethod.is_active))
                    .order_by(col(PaymentMethod.created_at).desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if successor is not None:
                await _make_default(uow, successor)
            if customer.stripe_customer_id is not None:
                await stripe.set_default_payment_method(
                    customer.stripe_customer_id,
                    successor.stripe_payment_method_id if successor else None,
                )
        await uow.commit()
