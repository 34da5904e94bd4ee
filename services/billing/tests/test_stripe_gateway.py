"""The Stripe gateway: a create call's idempotency key is committed before the call, so a
retry after a failure (Stripe unreachable, a crash) sends the same key again."""

from __future__ import annotations

import pytest

from billing.stripe_gateway import StripeRequestError
from billing.stripe_gateway.mapping import StripeSubscriptionState

from .conftest import Billing
from .helpers import new_user_id


async def test_the_key_is_stored_before_the_call_and_reused_by_the_retry(
    billing: Billing, free_port: int
) -> None:
    user_id = new_user_id()
    with pytest.raises(StripeRequestError):
        await billing.unreachable_gateway(free_port).create_customer(
            customer_id="c1", user_id=user_id, email=None, name=None
        )
    key, completed = await billing.scalar(
        "SELECT array[key, coalesce(completed_at::text, '')] FROM stripe_idempotency_keys "
        "WHERE operation = 'customer.create' AND target_id = :u",
        u=user_id,
    )
    assert key.startswith("billing-customer.create-") and completed == ""

    created = await billing.gateway().create_customer(
        customer_id="c1", user_id=user_id, email=None, name=None
    )
    row = await billing.scalar(
        "SELECT array[key, stripe_object_id] FROM stripe_idempotency_keys "
        "WHERE operation = 'customer.create' AND target_id = :u",
        u=user_id,
    )
    assert row == [key, created]  # the same key, now completed with what Stripe made


def test_the_mapping_reads_the_period_from_the_item_in_newer_api_versions() -> None:
    subscription = {
        "id": "sub_1",
        "customer": {"id": "cus_1"},
        "status": "past_due",
        "cancel_at_period_end": True,
        "items": {
            "data": [
                {
                    "id": "si_1",
                    "price": {"id": "plan_basic"},
                    "current_period_start": 1_700_000_000,
                    "current_period_end": 1_702_592_000,
                }
            ]
        },
    }
    state = StripeSubscriptionState.of(subscription)
    assert (state.stripe_customer_id, state.price_id, state.status) == (
        "cus_1",
        "plan_basic",
        "PAST_DUE",
    )
    assert state.current_period_end is not None
    assert state.current_period_end.timestamp() == 1_702_592_000
    assert StripeSubscriptionState.of({**subscription, "status": "canceled"}).is_over
