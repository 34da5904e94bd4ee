"""A user's billing account follows identity: created on registration, erased on deletion,
and never brought back by a registration that arrives late."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import stripe

from lib_contracts.identity import UserDeleted, UserRegistered

from .conftest import Billing
from .helpers import bearer, new_user_id, wait_until


async def _rows_left(billing: Billing, user_id: str) -> int:
    return int(
        await billing.scalar(
            "SELECT (SELECT count(*) FROM subscriptions WHERE user_id = :u) "
            "+ (SELECT count(*) FROM payment_methods WHERE user_id = :u) "
            "+ (SELECT count(*) FROM customers WHERE user_id = :u AND deleted_at IS NULL)",
            u=user_id,
        )
    )


async def test_user_deleted_erases_billing_data_and_the_stripe_customer(billing: Billing) -> None:
    user_id = await billing.register_user()
    await billing.http.post(
        "/api/v1/payment-methods", json={"paymentMethodId": "pm_card_visa"}, headers=bearer(user_id)
    )
    stripe_customer_id = await billing.scalar(
        "SELECT stripe_customer_id FROM customers WHERE user_id = :u", u=user_id
    )
    await billing.publish_identity_event(UserDeleted(user_id=user_id, deleted_at=datetime.now(UTC)))

    async def erased() -> bool:
        return await _rows_left(billing, user_id) == 0

    await wait_until(erased, what="the user's billing data erased")
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await billing.stripe.v1.customers.retrieve_async(stripe_customer_id)
    assert missing.value.http_status == 404
    tombstone = await billing.scalar(
        "SELECT coalesce(email, '') || coalesce(name, '') || coalesce(stripe_customer_id, '') "
        "FROM customers WHERE user_id = :u AND deleted_at IS NOT NULL",
        u=user_id,
    )
    assert tombstone == ""  # only the id is kept
    assert (
        await billing.http.get("/api/v1/subscription", headers=bearer(user_id))
    ).status_code == 404


async def test_a_registration_arriving_after_the_deletion_creates_nothing(
    billing: Billing,
) -> None:
    user_id = new_user_id()
    await billing.publish_identity_event(UserDeleted(user_id=user_id, deleted_at=datetime.now(UTC)))

    async def tombstoned() -> bool:
        found = await billing.scalar(
            "SELECT count(*) FROM customers WHERE user_id = :u AND deleted_at IS NOT NULL",
            u=user_id,
        )
        return bool(found == 1)

    await wait_until(tombstoned, what="the tombstone of a deleted user")
    late = await billing.publish_identity_event(
        UserRegistered(user_id=user_id, email="late@example.com", registered_at=datetime.now(UTC))
    )
    await billing.wait_until_handled(late, "billing.users")
    assert await _rows_left(billing, user_id) == 0
    listed = await billing.stripe.v1.customers.list_async({"email": "late@example.com"})
    assert listed.data == []
