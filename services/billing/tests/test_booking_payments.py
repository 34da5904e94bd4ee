"""Payments for bookings and extensions: held, captured on completion, released on
cancellation, extensions charged on approval; each outcome announced once to booking."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from billing.domain import booking_payments
from billing.stripe_gateway import StripeGateway
from billing.stripe_gateway.mapping import PaymentIntentState
from lib_auth import internal_auth_headers
from lib_contracts.billing import PaymentFailed, PaymentSucceeded
from lib_contracts.booking import BookingStatusChanged, ExtensionApproved

from .conftest import Billing
from .helpers import bearer, new_user_id, wait_until


def _internal(billing: Billing) -> dict[str, str]:
    return internal_auth_headers(billing.settings.internal_token.get_secret_value())


async def _authorize(billing: Billing, **body: Any) -> Any:
    return await billing.http.post("/internal/payments", json=body, headers=_internal(billing))


def _status_changed(
    user_id: str, booking_id: str, status: str, **extra: Any
) -> BookingStatusChanged:
    return BookingStatusChanged(
        booking_id=booking_id,
        user_id=user_id,
        revision=7,
        changed_at=datetime.now(UTC),
        status=status,  # type: ignore[arg-type]
        payment_status="PENDING",
        amount_cents=18900,
        currency="eur",
        **extra,
    )


def _extension_approved(
    user_id: str, extension_id: str, booking_id: str | None = None
) -> ExtensionApproved:
    return ExtensionApproved(
        extension_id=extension_id,
        booking_id=booking_id or new_user_id(),
        user_id=user_id,
        amount_cents=4500,
        currency="eur",
        approved_at=datetime.now(UTC),
    )


async def test_a_booking_payment_is_held_then_captured_when_the_booking_completes(
    billing: Billing,
) -> None:
    user_id = await billing.register_user()
    booking_id = new_user_id()
    held = await _authorize(
        billing,
        userId=user_id,
        bookingId=booking_id,
        amountCents=18900,
        currency="eur",
        paymentMethodId="pm_card_visa",
    )
    assert held.status_code == 200, held.text
    body = held.json()
    assert body["status"] == "AUTHORIZED" and body["clientSecret"].startswith(
        body["paymentIntentId"]
    )
    again = await _authorize(
        billing, userId=user_id, bookingId=booking_id, amountCents=18900, currency="eur"
    )
    assert again.json()["paymentId"] == body["paymentId"]  # the open payment, not a second one
    intent = await billing.stripe.v1.payment_intents.retrieve_async(body["paymentIntentId"])
    assert (intent.status, intent.capture_method, intent.amount) == (
        "requires_capture",
        "manual",
        18900,
    )

    await billing.publish_booking_event(
        _status_changed(user_id, booking_id, "COMPLETED", payment_intent_id=body["paymentIntentId"])
    )
    paid = await billing.wait_for_payment_event(booking_id=booking_id)
    assert isinstance(paid, PaymentSucceeded)
    assert (paid.payment_intent_id, paid.amount_cents, paid.extension_id) == (
        body["paymentIntentId"],
        18900,
        None,
    )
    intent = await billing.stripe.v1.payment_intents.retrieve_async(body["paymentIntentId"])
    assert intent.status == "succeeded"

    async def webhook_processed() -> bool:
        done = await billing.scalar(
            "SELECT count(*) FROM stripe_events WHERE object_id = :p "
            "AND type = 'payment_intent.succeeded' AND processed_at IS NOT NULL",
            p=body["paymentIntentId"],
        )
        return bool(done == 1)

    await wait_until(webhook_processed, what="the payment_intent.succeeded webhook")
    assert [p.booking_id for p in billing.payments].count(booking_id) == 1  # announced once


async def test_a_declined_card_gives_a_failed_payment_event(billing: Billing) -> None:
    user_id = await billing.register_user()
    booking_id = new_user_id()
    declined = await _authorize(
        billing,
        userId=user_id,
        bookingId=booking_id,
        amountCents=5000,
        currency="eur",
        paymentMethodId="pm_card_visa_chargeDeclined",
    )
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "FAILED"
    failed = await billing.wait_for_payment_event(booking_id=booking_id)
    assert isinstance(failed, PaymentFailed)
    assert failed.failure_code and failed.payment_intent_id == declined.json()["paymentIntentId"]

    # A new attempt with a good card is a new payment of the same booking.
    retried = await _authorize(
        billing,
        userId=user_id,
        bookingId=booking_id,
        amountCents=5000,
        currency="eur",
        paymentMethodId="pm_card_visa",
    )
    assert retried.json()["status"] == "AUTHORIZED"
    assert retried.json()["paymentId"] != declined.json()["paymentId"]


async def test_a_cancelled_booking_releases_the_held_amount(billing: Billing) -> None:
    user_id = await billing.register_user()
    booking_id = new_user_id()
    held = (
        await _authorize(
            billing,
            userId=user_id,
            bookingId=booking_id,
            amountCents=7000,
            currency="eur",
            paymentMethodId="pm_card_visa",
        )
    ).json()
    await billing.publish_booking_event(
        _status_changed(user_id, booking_id, "CANCELLED", cancellation_reason="customer")
    )

    async def released() -> bool:
        status = await billing.scalar(
            "SELECT status FROM stripe_payments WHERE id = :p", p=held["paymentId"]
        )
        return bool(status == "CANCELED")

    await wait_until(released, what="the held payment released")
    intent = await billing.stripe.v1.payment_intents.retrieve_async(held["paymentIntentId"])
    assert intent.status == "canceled"
    assert [p for p in billing.payments if p.booking_id == booking_id] == []


async def test_internal_payments_refuse_other_callers(billing: Billing) -> None:
    body = {"userId": "u", "bookingId": "b", "amountCents": 100, "currency": "eur"}
    assert (await billing.http.post("/internal/payments", json=body)).status_code == 403
    as_user = {**_internal(billing), **bearer("u")}
    refused = await billing.http.post("/internal/payments", json=body, headers=as_user)
    assert refused.status_code == 403
    both = {**body, "extensionId": "e"}
    assert (await _authorize(billing, **both)).status_code == 422


async def test_an_approved_extension_is_charged_once(billing: Billing) -> None:
    user_id = await billing.register_user()
    card = await billing.http.post(
        "/api/v1/payment-methods", json={"paymentMethodId": "pm_card_visa"}, headers=bearer(user_id)
    )
    assert card.status_code == 201
    extension_id, booking_id = new_user_id(), new_user_id()
    approved = _extension_approved(user_id, extension_id, booking_id)
    first = await billing.publish_booking_event(approved)
    second = await billing.publish_booking_event(approved)  # approved twice (a retried publish)
    charged = await billing.wait_for_payment_event(extension_id=extension_id)
    assert isinstance(charged, PaymentSucceeded)
    assert (charged.extension_id, charged.booking_id, charged.amount_cents) == (
        extension_id,
        None,
        4500,
    )
    intent = await billing.stripe.v1.payment_intents.retrieve_async(charged.payment_intent_id)
    assert (intent.status, intent.amount) == ("succeeded", 4500)

    await billing.wait_until_handled(first, "billing.bookings")
    await billing.wait_until_handled(second, "billing.bookings")
    assert (
        await billing.scalar(
            "SELECT count(*) FROM stripe_payments WHERE extension_id = :e", e=extension_id
        )
        == 1
    )
    assert [p.extension_id for p in billing.payments].count(extension_id) == 1


async def test_an_extension_charged_to_a_failing_card_gives_a_failed_payment(
    billing: Billing,
) -> None:
    user_id = await billing.register_user()
    await billing.http.post(
        "/api/v1/payment-methods",
        json={"paymentMethodId": "pm_card_chargeCustomerFail"},
        headers=bearer(user_id),
    )
    extension_id = new_user_id()
    await billing.publish_booking_event(_extension_approved(user_id, extension_id))
    failed = await billing.wait_for_payment_event(extension_id=extension_id)
    assert isinstance(failed, PaymentFailed) and failed.failure_code


async def test_the_client_confirms_with_the_client_secret_then_completion_captures(
    billing: Billing,
) -> None:
    user_id = await billing.register_user()
    booking_id = new_user_id()
    created = await _authorize(
        billing, userId=user_id, bookingId=booking_id, amountCents=12000, currency="eur"
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["status"] == "PENDING" and body["clientSecret"]
    # What Stripe.js does in the customer's browser with the client secret.
    await billing.stripe.v1.payment_intents.update_async(
        body["paymentIntentId"], {"payment_method": "pm_card_visa"}
    )
    await billing.stripe.v1.payment_intents.confirm_async(body["paymentIntentId"])

    await billing.publish_booking_event(_status_changed(user_id, booking_id, "COMPLETED"))
    paid = await billing.wait_for_payment_event(booking_id=booking_id)
    assert isinstance(paid, PaymentSucceeded) and paid.amount_cents == 12000
    intent = await billing.stripe.v1.payment_intents.retrieve_async(body["paymentIntentId"])
    assert intent.status == "succeeded"


async def test_completion_without_an_authorised_payment_is_a_failed_payment(
    billing: Billing,
) -> None:
    user_id = await billing.register_user()
    booking_id = new_user_id()
    await _authorize(
        billing, userId=user_id, bookingId=booking_id, amountCents=12000, currency="eur"
    )
    await billing.publish_booking_event(_status_changed(user_id, booking_id, "COMPLETED"))
    failed = await billing.wait_for_payment_event(booking_id=booking_id)
    assert isinstance(failed, PaymentFailed)
    assert failed.failure_code == "payment_not_authorized"


async def _store_pending_payment(billing: Billing, user_id: str, **target: str) -> str:
    """A payment row as authorize / charge_extension commit it before calling Stripe."""
    payment_id = str(uuid.uuid4())
    column = "booking_id" if "booking_id" in target else "extension_id"
    await billing.execute(
        f"INSERT INTO stripe_payments (id, user_id, {column}, tokens_granted, amount_cents, "
        "currency, capture_method, status, created_at, updated_at) VALUES (:id, :u, :t, 0, "
        "4500, 'eur', 'automatic', 'PENDING', now(), now())",
        id=payment_id,
        u=user_id,
        t=target[column],
    )
    return payment_id


async def _payment_events_of(billing: Billing, target_id: str) -> int:
    return [p.booking_id or p.extension_id for p in billing.payments].count(target_id)


async def _wait_for_webhook(billing: Billing, payment_intent_id: str, event_type: str) -> None:
    async def processed() -> bool:
        done = await billing.scalar(
            "SELECT count(*) FROM stripe_events WHERE object_id = :p AND type = :t "
            "AND processed_at IS NOT NULL",
            p=payment_intent_id,
            t=event_type,
        )
        return bool(done == 1)

    await wait_until(processed, what=f"the {event_type} webhook")


async def test_a_webhook_before_the_intent_id_is_stored_still_announces_the_outcome_once(
    billing: Billing,
) -> None:
    """The webhook overtakes the charge storing the intent id (or the worker crashed after
    Stripe answered): the payment is found by the id in the intent's metadata, and the
    redelivered approval continues that payment instead of charging again."""
    user_id = await billing.register_user()
    extension_id, booking_id = new_user_id(), new_user_id()
    payment_id = await _store_pending_payment(billing, user_id, extension_id=extension_id)
    intent = await billing.stripe.v1.payment_intents.create_async(
        {
            "amount": 4500,
            "currency": "eur",
            "metadata": {"payment_id": payment_id, "user_id": user_id},
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )

    paid = await billing.wait_for_payment_event(extension_id=extension_id)
    assert isinstance(paid, PaymentSucceeded) and paid.payment_intent_id == intent.id
    assert await billing.scalar(
        "SELECT array[stripe_payment_intent_id, status] FROM stripe_payments WHERE id = :p",
        p=payment_id,
    ) == [intent.id, "SUCCEEDED"]

    redelivered = await billing.publish_booking_event(
        _extension_approved(user_id, extension_id, booking_id)
    )
    await billing.wait_until_handled(redelivered, "billing.bookings")
    await _wait_for_webhook(billing, intent.id, "payment_intent.succeeded")
    count = "SELECT count(*) FROM stripe_payments WHERE extension_id = :e"
    assert await billing.scalar(count, e=extension_id) == 1
    assert await _payment_events_of(billing, extension_id) == 1


async def test_a_webhook_processed_before_authorize_stores_the_intent_fails_the_payment_once(
    billing: Billing,
) -> None:
    """The real authorize, with Stripe's answer held back until the intent's webhook has
    been applied: the webhook finds the committed payment, and the late answer adds nothing."""
    user_id = await billing.register_user()
    booking_id = new_user_id()
    seen_by_webhook: list[str | None] = []

    class SlowAnswers(StripeGateway):
        async def create_payment_intent(self, **call: Any) -> PaymentIntentState:
            state = await super().create_payment_intent(**call)
            await _wait_for_webhook(
                billing, state.payment_intent_id, "payment_intent.payment_failed"
            )
            seen_by_webhook.append(
                await billing.scalar(
                    "SELECT status FROM stripe_payments WHERE stripe_payment_intent_id = :p",
                    p=state.payment_intent_id,
                )
            )
            return state

    result = await booking_payments.authorize(
        billing.uow(),
        SlowAnswers(billing.stripe, billing.database),
        user_id=user_id,
        booking_id=booking_id,
        extension_id=None,
        amount_cents=5000,
        currency="eur",
        stripe_payment_method_id="pm_card_chargeCustomerFail",  # declined when charged
    )

    assert seen_by_webhook == ["FAILED"]  # applied by the webhook, before the answer
    assert result.payment.status == "FAILED"
    failed = await billing.wait_for_payment_event(booking_id=booking_id)
    assert isinstance(failed, PaymentFailed)
    assert failed.payment_intent_id == result.payment.stripe_payment_intent_id
    await asyncio.sleep(1)  # a second announcement would be relayed by now
    assert await _payment_events_of(billing, booking_id) == 1
