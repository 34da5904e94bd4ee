"""A user's billing account: the customer row and its Stripe customer, and its erasure."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from billing.domain.errors import NoSubscriptionError
from billing.models import (
    Customer,
    DailyQuota,
    IdempotencyKey,
    PaymentMethod,
    Subscription,
    TokenReservation,
    TokenTransaction,
    UserTokenBalance,
    VoucherRedemption,
    new_id,
    utc_now,
)
from billing.stripe_gateway import StripeGateway
from lib_database import UnitOfWork


async def customer_of(uow: UnitOfWork, user_id: str, *, for_update: bool = False) -> Customer:
    statement = select(Customer).where(
        col(Customer.user_id) == user_id, col(Customer.deleted_at).is_(None)
    )
    if for_update:
        statement = statement.with_for_update()
    customer: Customer | None = (await uow.session.execute(statement)).scalar_one_or_none()
    if customer is None:
        raise NoSubscriptionError()
    return customer


async def ensure_stripe_customer(uow: UnitOfWork, stripe: StripeGateway, customer: Customer) -> str:
    """The customer's Stripe id, creating the Stripe customer if it has none yet (its
    idempotency key makes a repeated attempt create it once)."""
    if customer.stripe_customer_id is None:
        customer.stripe_customer_id = await stripe.create_customer(
            customer_id=customer.id,
            user_id=customer.user_id,
            email=customer.email,
            name=customer.name,
        )
        customer.updated_at = utc_now()
        uow.session.add(customer)
        await uow.session.flush()
    return customer.stripe_customer_id


# Everything billing keeps about a user, erased on identity.user.deleted. Stripe payments stay
# (accounting records holding no personal data beyond the opaque user id); the customer row
# stays emptied, as the user's tombstone.
_USER_TABLES: tuple[type[Any], ...] = (
    Subscription,
    PaymentMethod,
    IdempotencyKey,
    TokenReservation,
    TokenTransaction,
    UserTokenBalance,
    DailyQuota,
    VoucherRedemption,
)


async def erase_user(uow: UnitOfWork, stripe: StripeGateway, user_id: str) -> None:
    """Delete the user's Stripe customer (which ends its subscriptions) and billing data,
    leaving a tombstone (also when the deletion overtook the registration)."""
    await uow.session.execute(
        insert(Customer)
        .values(id=new_id(), user_id=user_id, created_at=utc_now(), updated_at=utc_now())
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    customer: Customer = (
        await uow.session.execute(
            select(Customer).where(col(Customer.user_id) == user_id).with_for_update()
        )
    ).scalar_one()
    if customer.stripe_customer_id is not None:
        await stripe.delete_customer(customer.stripe_customer_id)
    for table in _USER_TABLES:
        await uow.session.execute(delete(table).where(col(table.user_id) == user_id))
    customer.stripe_customer_id = None
    customer.email = None
    customer.name = None
    customer.deleted_at = customer.updated_at = utc_now()
    uow.session.add(customer)
