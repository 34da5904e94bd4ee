"""Token packages bought with a PaymentIntent over localstripe: tokens credited once, on
payment_intent.succeeded, however often the webhook arrives; a declined card credits nothing."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest

from billing.domain import token_purchases
from billing.stripe_gateway import StripeRequestError
from lib_contracts.billing import TokensPurchased, TokensPurchaseFailed

from .conftest import Billing
from .helpers import WEBHOOK_SECRET, bearer, signature_header, stripe_event, wait_until
from .tokens.helpers import assert_ledger_consistent

PURCHASE = "/api/v1/tokens/purchase"
STARTER_TOKENS = 50  # pkg_starter, seeded by migration 0004 at 499 cents


async def _buy(billing: Billing, user_id: str, key: str | None = None, **body: Any) -> Any:
    headers = bearer(user_id)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await billing.http.post(
        PURCHASE, json={"packageId": "pkg_starter", **body}, headers=headers
    )


async def _balance(billing: Billing, user_id: str) -> int:
    response = await billing.http.get("/api/v1/tokens/balance", headers=bearer(user_id))
    assert response.status_code == 200, response.text
    return int(response.json()["balance"])


async def _purchase_credits(billing: Billing, payment_id: str) -> int:
    found = await billing.scalar(
        "SELECT count(*) FROM token_transactions WHERE type = 'EARN_PURCHASE' "
        "AND source = 'stripe_payment' AND source_id = :p",
        p=payment_id,
    )
    return int(found)


async def _payments_of(billing: Billing, user_id: str) -> int:
    found = await billing.scalar(
        "SELECT count(*) FROM stripe_payments WHERE user_id = :u", u=user_id
    )
    return int(found)


async def _wait_for_status(billing: Billing, payment_id: str, status: str) -> None:
    async def reached() -> bool:
        found = await billing.scalar(
            "SELECT status FROM stripe_payments WHERE id = :p", p=payment_id
        )
        return bool(found == status)

    await wait_until(reached, what=f"purchase {payment_id} {status}")


async def _deliver(billing: Billing, body: bytes, times: int) -> list[Any]:
    signature = signature_header(body, WEBHOOK_SECRET)
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature}
    return list(
        await asyncio.gather(
            *(
                billing.http.post("/api/v1/webhooks/stripe", content=body, headers=headers)
                for _ in range(times)
            )
        )
    )


async def _wait_processed(billing: Billing, body: bytes) -> None:
    event_id = json.loads(body)["id"]

    async def processed() -> bool:
        done = await billing.scalar(
            "SELECT processed_at IS NOT NULL FROM stripe_events WHERE stripe_event_id = :e",
            e=event_id,
        )
        return bool(done)

    await wait_until(processed, what=f"webhook event {event_id} applied")


async def test_a_package_bought_with_a_card_is_credited_once_on_payment_intent_succeeded(
    billing: Billing,
) -> None:
    user_id = await billing.register_user()
    before = await _balance(billing, user_id)

    bought = await _buy(billing, user_id, key=str(uuid.uuid4()), paymentMethodId="pm_card_visa")
    assert bought.status_code == 201, bought.text
    body = bought.json()
    payment_id = body["paymentId"]
    assert body["status"] in ("PENDING", "SUCCEEDED")  # SUCCEEDED: the webhook was faster
    assert (body["packageId"], body["tokens"], body["amountCents"], body["currency"]) == (
        "pkg_starter",
        STARTER_TOKENS,
        499,
        "usd",
    )
    payment_intent_id = await billing.scalar(
        "SELECT stripe_payment_intent_id FROM stripe_payments WHERE id = :p", p=payment_id
    )
    assert body["clientSecret"].startswith(payment_intent_id)
    intent = await billing.stripe.v1.payment_intents.retrieve_async(payment_intent_id)
    assert (intent.status, intent.amount, intent.capture_method) == ("succeeded", 499, "automatic")
    assert intent.metadata["payment_id"] == payment_id

    await _wait_for_status(billing, payment_id, "SUCCEEDED")
    assert await _balance(billing, user_id) == before + STARTER_TOKENS
    assert await _purchase_credits(billing, payment_id) == 1

    # The same payment_intent.succeeded delivered five times at once, then again later, and
    # an older payment_failed event about the intent arriving last: nothing more changes.
    succeeded = stripe_event("payment_intent.succeeded", intent.to_dict(), created=int(time.time()))
    responses = await _deliver(billing, succeeded, 5)
    assert [r.status_code for r in responses] == [200] * 5
    assert sorted(r.json()["duplicate"] for r in responses) == [False, True, True, True, True]
    await _wait_processed(billing, succeeded)
    assert [r.json()["duplicate"] for r in await _deliver(billing, succeeded, 2)] == [True, True]
    stale_failure = stripe_event(
        "payment_intent.payment_failed", intent.to_dict(), created=int(time.time()) - 60
    )
    await _deliver(billing, stale_failure, 1)
    await _wait_processed(billing, stale_failure)

    assert await _balance(billing, user_id) == before + STARTER_TOKENS
    assert await _purchase_credits(billing, payment_id) == 1
    await assert_ledger_consistent(billing.database, [user_id])
    shown = await billing.http.get(
        f"/api/v1/tokens/purchases/{payment_id}", headers=bearer(user_id)
    )
    assert shown.status_code == 200, shown.text
    assert (shown.json()["status"], shown.json()["tokens"], shown.json()["failureCode"]) == (
        "SUCCEEDED",
        STARTER_TOKENS,
        None,
    )

    async def announced() -> bool:
        return any(p.payment_id == payment_id for p in billing.token_purchases)

    await wait_until(announced, what="billing.tokens.purchased")
    purchased = [p for p in billing.token_purchases if p.payment_id == payment_id]
    assert len(purchased) == 1 and isinstance(purchased[0], TokensPurchased)
    assert (purchased[0].tokens, purchased[0].balance_after) == (
        STARTER_TOKENS,
        before + STARTER_TOKENS,
    )


async def test_without_a_card_nothing_is_credited_until_the_client_has_paid(
    billing: Billing,
) -> None:
    user_id = await billing.register_user()
    before = await _balance(billing, user_id)
    started = await _buy(billing, user_id)
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["status"] == "PENDING"
    payment_intent_id = body["clientSecret"].split("_secret_")[0]
    intent = await billing.stripe.v1.payment_intents.retrieve_async(payment_intent_id)
    assert intent.status == "requires_payment_method"
    assert await _balance(billing, user_id) == before
    assert await _purchase_credits(billing, body["paymentId"]) == 0

    # What Stripe.js does with the client secret: a card, then the confirmation.
    await billing.stripe.v1.payment_intents.update_async(
        payment_intent_id, {"payment_method": "pm_card_visa"}
    )
    await billing.stripe.v1.payment_intents.confirm_async(payment_intent_id)

    await _wait_for_status(billing, body["paymentId"], "SUCCEEDED")
    assert await _balance(billing, user_id) == before + STARTER_TOKENS
    assert await _purchase_credits(billing, body["paymentId"]) == 1
    await assert_ledger_consistent(billing.database, [user_id])


async def test_a_declined_card_fails_the_purchase_and_credits_nothing(billing: Billing) -> None:
    user_id = await billing.register_user()
    before = await _balance(billing, user_id)
    declined = await _buy(billing, user_id, paymentMethodId="pm_card_visa_chargeDeclined")
    assert declined.status_code == 201, declined.text
    body = declined.json()
    assert (body["status"], body["failureCode"]) == ("FAILED", "card_declined")

    async def announced() -> bool:
        return any(p.payment_id == body["paymentId"] for p in billing.token_purchases)

    await wait_until(announced, what="billing.tokens.purchase_failed")
    failed = [p for p in billing.token_purchases if p.payment_id == body["paymentId"]]
    assert len(failed) == 1 and isinstance(failed[0], TokensPurchaseFailed)
    assert (failed[0].failure_code, failed[0].package_id) == ("card_declined", "pkg_starter")

    shown = await billing.http.get(
        f"/api/v1/tokens/purchases/{body['paymentId']}", headers=bearer(user_id)
    )
    assert shown.json()["status"] == "FAILED"
    assert await _balance(billing, user_id) == before
    assert await _purchase_credits(billing, body["paymentId"]) == 0


async def test_a_purchase_replayed_with_its_idempotency_key_is_answered_once(
    billing: Billing,
) -> None:
    user_id = await billing.register_user()
    key = str(uuid.uuid4())
    first = await _buy(billing, user_id, key=key)
    again = await _buy(billing, user_id, key=key)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    other_body = await _buy(billing, user_id, key=key, packageId="pkg_creator")
    assert other_body.status_code == 422, other_body.text
    without_key = await _buy(billing, user_id)
    assert without_key.json()["paymentId"] != first.json()["paymentId"]
    assert await _payments_of(billing, user_id) == 2


async def test_another_users_purchase_and_payment_method_are_404(billing: Billing) -> None:
    owner = await billing.register_user()
    intruder = await billing.register_user()
    card = await billing.http.post(
        "/api/v1/payment-methods", json={"paymentMethodId": "pm_card_visa"}, headers=bearer(owner)
    )
    assert card.status_code == 201, card.text
    owners_purchases = [(await _buy(billing, owner)).json()["paymentId"] for _ in range(3)]

    for method in (
        card.json()["id"],
        await billing.scalar(
            "SELECT stripe_payment_method_id FROM payment_methods WHERE id = :m",
            m=card.json()["id"],
        ),
        "not-a-payment-method",
    ):
        refused = await _buy(billing, intruder, paymentMethodId=method)
        assert refused.status_code == 404, refused.text
    shown = await billing.http.get(
        f"/api/v1/tokens/purchases/{owners_purchases[0]}", headers=bearer(intruder)
    )
    assert shown.status_code == 404
    listed = await billing.http.get("/api/v1/tokens/purchases", headers=bearer(intruder))
    assert listed.json() == {"items": [], "nextCursor": None}
    assert await _payments_of(billing, intruder) == 0

    # The owner pays with their saved card (by our id), and pages through their purchases.
    paid = await _buy(billing, owner, paymentMethodId=card.json()["id"])
    assert paid.status_code == 201, paid.text
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await billing.http.get("/api/v1/tokens/purchases", params=params, headers=bearer(owner))
        ).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [paid.json()["paymentId"], *reversed(owners_purchases)]


async def test_the_price_and_the_tokens_come_from_an_active_package_only(
    billing: Billing,
) -> None:
    user_id = await billing.register_user()
    for extra in ({"amount": 1}, {"tokens": 1_000_000}, {"userId": user_id}, {"status": "PAID"}):
        refused = await _buy(billing, user_id, **extra)
        assert refused.status_code == 422, refused.text
    unknown = await _buy(billing, user_id, packageId="pkg_nonexistent")
    assert unknown.status_code == 422, unknown.text
    assert unknown.headers["content-type"].startswith("application/problem+json")

    retired = f"pkg_retired_{uuid.uuid4().hex[:8]}"
    await billing.execute(
        "INSERT INTO tokens_packages (id, name, tokens, price_cents, currency, active, "
        "sort_order, created_at, updated_at) VALUES (:id, 'Retired', 10, 100, 'usd', false, 99, "
        "now(), now())",
        id=retired,
    )
    off_sale = await _buy(billing, user_id, packageId=retired)
    assert off_sale.status_code == 409, off_sale.text
    assert await _payments_of(billing, user_id) == 0


async def test_a_payment_whose_intent_id_was_never_stored_is_still_credited_once(
    billing: Billing,
) -> None:
    """A crash between Stripe's answer and storing the intent id: the succeeded webhook finds
    the payment by the id in the intent's metadata."""
    user_id = await billing.register_user()
    before = await _balance(billing, user_id)
    payment_id = str(uuid.uuid4())
    await billing.execute(
        "INSERT INTO stripe_payments (id, user_id, package_id, tokens_granted, amount_cents, "
        "currency, capture_method, status, created_at, updated_at) VALUES (:id, :u, "
        "'pkg_starter', 50, 499, 'usd', 'automatic', 'PENDING', now(), now())",
        id=payment_id,
        u=user_id,
    )
    intent = await billing.stripe.v1.payment_intents.create_async(
        {
            "amount": 499,
            "currency": "usd",
            "capture_method": "automatic",
            "metadata": {"payment_id": payment_id, "user_id": user_id, "package_id": "pkg_starter"},
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )

    await _wait_for_status(billing, payment_id, "SUCCEEDED")
    stored = await billing.scalar(
        "SELECT stripe_payment_intent_id FROM stripe_payments WHERE id = :p", p=payment_id
    )
    assert stored == intent.id
    assert await _balance(billing, user_id) == before + STARTER_TOKENS
    assert await _purchase_credits(billing, payment_id) == 1
    await assert_ledger_consistent(billing.database, [user_id])


async def test_a_purchase_retried_with_its_key_after_stripe_failed_continues_the_same_payment(
    billing: Billing, free_port: int
) -> None:
    user_id = await billing.register_user()
    key = str(uuid.uuid4())
    with pytest.raises(StripeRequestError):
        await token_purchases.purchase(
            billing.uow(),
            billing.unreachable_gateway(free_port),
            user_id=user_id,
            package_id="pkg_starter",
            payment_method_id="pm_card_visa",
            request_key=key,
        )
    left = await billing.scalar(
        "SELECT array[id, status] FROM stripe_payments WHERE user_id = :u", u=user_id
    )
    assert left[1] == "PENDING"  # committed before Stripe was called: nothing is lost

    retried = await _buy(billing, user_id, key=key, paymentMethodId="pm_card_visa")
    assert retried.status_code == 201, retried.text
    assert retried.json()["paymentId"] == left[0]  # the same payment, not a second charge
    await _wait_for_status(billing, left[0], "SUCCEEDED")
    assert await _payments_of(billing, user_id) == 1
    assert await _purchase_credits(billing, left[0]) == 1
