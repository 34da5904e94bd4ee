"""POST /api/v1/webhooks/stripe: signatures checked on the raw body, each event stored and
applied once however often and in whatever order it arrives."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from billing.domain import stripe_events
from billing.stripe_gateway import StripeRequestError

from .conftest import Billing
from .helpers import (
    OLD_WEBHOOK_SECRET,
    WEBHOOK_SECRET,
    bearer,
    new_user_id,
    signature_header,
    stripe_event,
    wait_until,
)

WEBHOOK = "/api/v1/webhooks/stripe"


async def _post(billing: Billing, body: bytes, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return await billing.http.post(WEBHOOK, content=body, headers=headers)


async def _stored(billing: Billing, body: bytes) -> int:
    event_id = json.loads(body)["id"]
    return int(
        await billing.scalar(
            "SELECT count(*) FROM stripe_events WHERE stripe_event_id = :e", e=event_id
        )
    )


async def _subscribed(billing: Billing, plan_id: str = "plan_basic") -> tuple[str, str]:
    """A user on a paid plan: (user id, Stripe subscription id)."""
    user_id = await billing.register_user()
    auth = bearer(user_id)
    card = await billing.http.post(
        "/api/v1/payment-methods", json={"paymentMethodId": "pm_card_visa"}, headers=auth
    )
    assert card.status_code == 201, card.text
    subscribed = await billing.http.post(
        "/api/v1/subscription", json={"planId": plan_id}, headers=auth
    )
    assert subscribed.status_code == 200, subscribed.text
    await billing.wait_for_revision(user_id, 2)
    stripe_subscription_id = await billing.scalar(
        "SELECT stripe_subscription_id FROM subscriptions WHERE user_id = :u", u=user_id
    )
    return user_id, str(stripe_subscription_id)


async def _processed(billing: Billing, body: bytes) -> bool:
    event_id = json.loads(body)["id"]
    done = await billing.scalar(
        "SELECT processed_at IS NOT NULL FROM stripe_events WHERE stripe_event_id = :e",
        e=event_id,
    )
    return bool(done)


async def _subscription_object(billing: Billing, stripe_subscription_id: str) -> dict[str, Any]:
    found = await billing.stripe.v1.subscriptions.retrieve_async(stripe_subscription_id)
    return found.to_dict()


async def test_bad_or_stale_signatures_are_400_and_store_nothing(billing: Billing) -> None:
    body = stripe_event("customer.updated", {"id": "cus_x", "object": "customer"}, created=1)
    tampered = body.replace(b"cus_x", b"cus_y")
    old = int(time.time()) - billing.settings.stripe_webhook_tolerance_s - 5
    for sent, signature in (
        (tampered, signature_header(body, WEBHOOK_SECRET)),  # body changed after signing
        (body, signature_header(body, "whsec_someone_else")),  # wrong secret
        (body, signature_header(body, WEBHOOK_SECRET, timestamp=old)),  # a replay
        (body, "t=1,v1=nothex"),
        (body, None),
    ):
        response = await _post(billing, sent, signature)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await _stored(billing, body) == 0
    assert await _stored(billing, tampered) == 0

    # During a rotation the previous secret is still accepted.
    accepted = await _post(billing, body, signature_header(body, OLD_WEBHOOK_SECRET))
    assert accepted.status_code == 200, accepted.text
    assert await _stored(billing, body) == 1


async def test_the_same_event_delivered_five_times_concurrently_is_applied_once(
    billing: Billing,
) -> None:
    user_id, stripe_subscription_id = await _subscribed(billing)
    # Cancelled at Stripe (e.g. from its dashboard); its deletion event reaches us 10 times.
    await billing.stripe.v1.subscriptions.cancel_async(stripe_subscription_id)
    body = stripe_event(
        "customer.subscription.deleted",
        await _subscription_object(billing, stripe_subscription_id),
        created=int(time.time()),
    )
    signature = signature_header(body, WEBHOOK_SECRET)
    concurrent = await asyncio.gather(*(_post(billing, body, signature) for _ in range(5)))
    assert [r.status_code for r in concurrent] == [200] * 5
    assert sorted(r.json()["duplicate"] for r in concurrent) == [False, True, True, True, True]
    for _ in range(5):
        again = await _post(billing, body, signature)
        assert again.json() == {"received": True, "duplicate": True}
    assert await _stored(billing, body) == 1

    await wait_until(lambda: _processed(billing, body), what="the deletion event applied")
    event_id = json.loads(body)["id"]
    commands = await billing.scalar(
        "SELECT count(*) FROM outbox WHERE event_type = "
        "'billing.stripe_event.processing_requested' AND subject = :e",
        e=event_id,
    )
    assert commands == 1
    freed = await billing.wait_for_revision(user_id, 3)
    assert freed.tier == "FREE"
    await asyncio.sleep(1.5)  # localstripe's own delivery of its deletion event comes too
    mine = (await billing.http.get("/api/v1/subscription", headers=bearer(user_id))).json()
    assert (mine["tier"], mine["revision"]) == ("FREE", 3)
    assert [u.revision for u in billing.updates_for(user_id)] == [1, 2, 3]


async def test_an_older_event_arriving_late_never_rolls_the_subscription_back(
    billing: Billing,
) -> None:
    user_id, stripe_subscription_id = await _subscribed(billing, "plan_basic")
    auth = bearer(user_id)
    on_basic = await _subscription_object(billing, stripe_subscription_id)
    created_at = int(time.time()) - 60
    upgraded = await billing.http.post(
        "/api/v1/subscription", json={"planId": "plan_premium"}, headers=auth
    )
    assert upgraded.json()["tier"] == "PREMIUM"
    await billing.wait_for_revision(user_id, 3)

    # Stripe's "updated" event of the upgrade arrives first, then the older "created" one
    # still showing the basic plan.
    newer = stripe_event(
        "customer.subscription.updated",
        await _subscription_object(billing, stripe_subscription_id),
        created=int(time.time()),
    )
    older = stripe_event("customer.subscription.created", on_basic, created=created_at)
    for body in (newer, older):
        response = await _post(billing, body, signature_header(body, WEBHOOK_SECRET))
        assert response.status_code == 200
        await wait_until(lambda b=body: _processed(billing, b), what="the event applied")
    mine = (await billing.http.get("/api/v1/subscription", headers=auth)).json()
    assert (mine["tier"], mine["revision"]) == ("PREMIUM", 3)

    # And an ended subscription is not brought back by its late "created" event.
    await billing.stripe.v1.subscriptions.cancel_async(stripe_subscription_id)
    ended = stripe_event(
        "customer.subscription.deleted",
        await _subscription_object(billing, stripe_subscription_id),
        created=int(time.time()),
    )
    for body in (ended, older):
        response = await _post(billing, body, signature_header(body, WEBHOOK_SECRET))
        await wait_until(lambda b=body: _processed(billing, b), what="the event applied")
    mine = (await billing.http.get("/api/v1/subscription", headers=auth)).json()
    assert (mine["tier"], mine["revision"]) == ("FREE", 4)


async def test_a_failure_to_apply_an_event_is_recorded_on_it_then_a_retry_applies_it(
    billing: Billing, free_port: int
) -> None:
    """Stripe is down while the event is applied: the consumer's transaction rolls back, but
    the event row keeps the error and the attempt for operators; the retry applies it."""
    user_id = await billing.register_user()
    intent = await billing.stripe.v1.payment_intents.create_async(
        {"amount": 4500, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )

    async def stripes_own_webhook_done() -> bool:  # before the payment exists: no effect
        done = await billing.scalar(
            "SELECT count(*) FROM stripe_events WHERE object_id = :p AND processed_at IS NOT NULL",
            p=intent.id,
        )
        return bool(done == 1)

    await wait_until(stripes_own_webhook_done, what="localstripe's own webhook")
    payment_id = str(uuid.uuid4())
    await billing.execute(
        "INSERT INTO stripe_payments (id, user_id, booking_id, tokens_granted, amount_cents, "
        "currency, capture_method, status, stripe_payment_intent_id, created_at, updated_at) "
        "VALUES (:id, :u, :b, 0, 4500, 'eur', 'automatic', 'PENDING', :pi, now(), now())",
        id=payment_id,
        u=user_id,
        b=new_user_id(),
        pi=intent.id,
    )
    body = stripe_event(
        "payment_intent.succeeded", {"id": intent.id, "object": "payment_intent"}, created=1
    )
    row_id = str(uuid.uuid4())
    await billing.execute(
        "INSERT INTO stripe_events (id, stripe_event_id, type, livemode, object_id, "
        "stripe_created_at, payload, received_at, attempts) VALUES (:id, :e, "
        "'payment_intent.succeeded', false, :pi, now(), :body, now(), 0)",
        id=row_id,
        e=json.loads(body)["id"],
        pi=intent.id,
        body=body.decode(),
    )
    state = "SELECT array[attempts::text, last_error, processed_at::text] FROM stripe_events "
    state += "WHERE id = :id"

    with pytest.raises(StripeRequestError):
        async with billing.uow() as uow:
            await stripe_events.process(
                uow, billing.unreachable_gateway(free_port), row_id, now=datetime.now(UTC)
            )
    attempts, last_error, processed_at = await billing.scalar(state, id=row_id)
    assert (attempts, processed_at) == ("1", None)
    assert last_error.startswith("StripeRequestError")
    payment = "SELECT status FROM stripe_payments WHERE id = :p"
    assert await billing.scalar(payment, p=payment_id) == "PENDING"

    async with billing.uow() as uow:  # the retry, with Stripe back
        await stripe_events.process(uow, billing.gateway(), row_id, now=datetime.now(UTC))
        await uow.commit()
    attempts, last_error, processed_at = await billing.scalar(state, id=row_id)
    assert attempts == "2" and processed_at is not None
    assert last_error.startswith("StripeRequestError")  # the history stays
    assert await billing.scalar(payment, p=payment_id) == "SUCCEEDED"
