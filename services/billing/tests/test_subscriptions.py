"""Plans and subscriptions end to end: registration, subscribe, upgrade, downgrade at the
period end, cancel, over localstripe, its webhooks and the real broker."""

from __future__ import annotations

from datetime import datetime, timedelta

from billing.jobs import period_end_changes

from .conftest import Billing
from .helpers import bearer, wait_until


async def _run_period_end_job(billing: Billing, now: datetime) -> int:
    """One tick of the worker's period-end job, as the scheduler runs it, at `now`."""
    return await period_end_changes(lambda: billing.stripe, clock=lambda: now)(billing.uow)


async def test_plans_are_listed_in_pages(billing: Billing) -> None:
    first = await billing.http.get("/api/v1/plans", params={"limit": 4})
    assert first.status_code == 200, first.text
    body = first.json()
    assert [p["tier"] for p in body["items"]] == ["FREE", "BASIC", "STANDARD", "PREMIUM"]
    assert body["items"][1] | {"id": "plan_basic"} == body["items"][1]
    assert body["items"][1]["tokensPerMonth"] == 20 and body["items"][1]["priceCents"] == 499
    rest = await billing.http.get(
        "/api/v1/plans", params={"limit": 4, "cursor": body["nextCursor"]}
    )
    assert [p["tier"] for p in rest.json()["items"]] == ["STARTER", "PRO", "ENTERPRISE"]
    assert rest.json()["nextCursor"] is None


async def test_registration_gives_a_stripe_customer_and_the_free_plan(billing: Billing) -> None:
    user_id = await billing.register_user(email="free@example.com")
    mine = (await billing.http.get("/api/v1/subscription", headers=bearer(user_id))).json()
    assert mine["tier"] == "FREE" and mine["plan"]["id"] == "plan_free"
    assert mine["revision"] == 1 and mine["status"] == "ACTIVE"
    announced = await billing.wait_for_revision(user_id, 1)
    assert announced.tier == "FREE" and announced.api_access is False
    stripe_customer_id = await billing.scalar(
        "SELECT stripe_customer_id FROM customers WHERE user_id = :u", u=user_id
    )
    customer = await billing.stripe.v1.customers.retrieve_async(stripe_customer_id)
    assert customer.email == "free@example.com"
    assert customer.metadata["user_id"] == user_id
    # The key of that create call was stored before the call, and completed after it.
    key_row = await billing.scalar(
        "SELECT stripe_object_id FROM stripe_idempotency_keys "
        "WHERE operation = 'customer.create' AND target_id = :u",
        u=user_id,
    )
    assert key_row == stripe_customer_id


async def test_lifecycle_subscribe_upgrade_downgrade_at_period_end_cancel(
    billing: Billing,
) -> None:
    user_id = await billing.register_user()
    auth = bearer(user_id)
    await billing.wait_for_revision(user_id, 1)

    # No card yet: a paid plan is refused and nothing changes.
    refused = await billing.http.post(
        "/api/v1/subscription", json={"planId": "plan_basic"}, headers=auth
    )
    assert refused.status_code == 409, refused.text

    card = await billing.http.post(
        "/api/v1/payment-methods", json={"paymentMethodId": "pm_card_visa"}, headers=auth
    )
    assert card.status_code == 201, card.text
    assert card.json()["isDefault"] is True

    # Subscribe: Stripe creates the subscription; its webhook is stored and processed.
    basic = await billing.http.post(
        "/api/v1/subscription", json={"planId": "plan_basic"}, headers=auth
    )
    assert basic.status_code == 200, basic.text
    assert basic.json()["tier"] == "BASIC" and basic.json()["currentPeriodEnd"]
    stripe_subscription_id = await billing.scalar(
        "SELECT stripe_subscription_id FROM subscriptions WHERE user_id = :u", u=user_id
    )
    assert (await billing.wait_for_revision(user_id, 2)).tier == "BASIC"

    async def created_webhook_processed() -> bool:
        processed = await billing.scalar(
            "SELECT count(*) FROM stripe_events WHERE object_id = :s "
            "AND type = 'customer.subscription.created' AND processed_at IS NOT NULL",
            s=stripe_subscription_id,
        )
        return bool(processed == 1)

    await wait_until(created_webhook_processed, what="the subscription.created webhook")

    # Upgrade: at once, at Stripe and here.
    premium = await billing.http.post(
        "/api/v1/subscription", json={"planId": "plan_premium"}, headers=auth
    )
    assert premium.json()["tier"] == "PREMIUM", premium.text
    at_stripe = await billing.stripe.v1.subscriptions.retrieve_async(stripe_subscription_id)
    assert at_stripe["items"].data[0].plan.id == "plan_premium"
    upgraded = await billing.wait_for_revision(user_id, 3)
    assert (upgraded.tier, upgraded.tokens_per_month, upgraded.api_access) == (
        "PREMIUM",
        100,
        True,
    )

    # Downgrade: only announced now; the plan changes when the paid period ends.
    down = await billing.http.post(
        "/api/v1/subscription", json={"planId": "plan_standard"}, headers=auth
    )
    assert (down.json()["tier"], down.json()["downgradeTo"]) == ("PREMIUM", "STANDARD")
    pending = await billing.wait_for_revision(user_id, 4)
    assert (pending.tier, pending.downgrade_to) == ("PREMIUM", "STANDARD")
    period_end = pending.current_period_end
    assert period_end is not None

    before_end = await _run_period_end_job(billing, period_end - timedelta(seconds=1))
    assert before_end == 0
    at_end = period_end + timedelta(seconds=1)
    assert await _run_period_end_job(billing, at_end) == 1
    # Run twice (another replica, a retry): nothing more happens.
    assert await _run_period_end_job(billing, at_end) == 0
    downgraded = await billing.wait_for_revision(user_id, 5)
    assert (downgraded.tier, downgraded.downgrade_to) == ("STANDARD", None)
    at_stripe = await billing.stripe.v1.subscriptions.retrieve_async(stripe_subscription_id)
    assert at_stripe["items"].data[0].plan.id == "plan_standard"

    # Cancel at the period end, resume, cancel again; the end brings the free plan.
    cancelled = await billing.http.post("/api/v1/subscription/cancel", headers=auth)
    assert cancelled.json()["cancelAtPeriodEnd"] is True, cancelled.text
    assert (await billing.wait_for_revision(user_id, 6)).cancel_at_period_end is True
    resumed = await billing.http.post("/api/v1/subscription/resume", headers=auth)
    assert resumed.json()["cancelAtPeriodEnd"] is False
    assert (await billing.wait_for_revision(user_id, 7)).cancel_at_period_end is False
    await billing.http.post("/api/v1/subscription/cancel", headers=auth)
    await billing.wait_for_revision(user_id, 8)
    assert await _run_period_end_job(billing, at_end) == 1
    ended = await billing.wait_for_revision(user_id, 9)
    assert (ended.tier, ended.plan_id, ended.cancel_at_period_end) == ("FREE", "plan_free", False)
    at_stripe = await billing.stripe.v1.subscriptions.retrieve_async(stripe_subscription_id)
    assert at_stripe.status == "canceled"

    async def deleted_webhook_processed() -> bool:
        processed = await billing.scalar(
            "SELECT count(*) FROM stripe_events WHERE object_id = :s "
            "AND type = 'customer.subscription.deleted' AND processed_at IS NOT NULL",
            s=stripe_subscription_id,
        )
        return bool(processed == 1)

    await wait_until(deleted_webhook_processed, what="the subscription.deleted webhook")
    mine = (await billing.http.get("/api/v1/subscription", headers=auth)).json()
    assert (mine["tier"], mine["revision"]) == ("FREE", 9)  # the webhook changed nothing more
    assert [u.revision for u in billing.updates_for(user_id)] == list(range(1, 10))


async def test_body_fields_that_are_not_the_callers_to_set_are_refused(billing: Billing) -> None:
    user_id = await billing.register_user()
    auth = bearer(user_id)
    for body in (
        {"planId": "plan_premium", "tier": "PREMIUM"},
        {"planId": "plan_premium", "balance": 1000},
        {"planId": "plan_premium", "status": "ACTIVE"},
    ):
        response = await billing.http.post("/api/v1/subscription", json=body, headers=auth)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    card = await billing.http.post(
        "/api/v1/payment-methods",
        json={"paymentMethodId": "pm_card_visa", "isDefault": True, "balance": 5},
        headers=auth,
    )
    assert card.status_code == 422
    mine = (await billing.http.get("/api/v1/subscription", headers=auth)).json()
    assert (mine["tier"], mine["revision"]) == ("FREE", 1)


async def test_unknown_plan_is_refused_and_no_token_is_401(billing: Billing) -> None:
    user_id = await billing.register_user()
    unknown = await billing.http.post(
        "/api/v1/subscription", json={"planId": "plan_gold"}, headers=bearer(user_id)
    )
    assert unknown.status_code == 422
    anonymous = await billing.http.get("/api/v1/subscription")
    assert anonymous.status_code == 401
    stranger = await billing.http.get("/api/v1/subscription", headers=bearer("nobody"))
    assert stranger.status_code == 404


async def test_idempotency_key_replays_the_first_answer(billing: Billing) -> None:
    user_id = await billing.register_user()
    auth = bearer(user_id)
    await billing.http.post(
        "/api/v1/payment-methods", json={"paymentMethodId": "pm_card_visa"}, headers=auth
    )
    headers = {**auth, "Idempotency-Key": "subscribe-basic-1"}
    first = await billing.http.post(
        "/api/v1/subscription", json={"planId": "plan_basic"}, headers=headers
    )
    again = await billing.http.post(
        "/api/v1/subscription", json={"planId": "plan_basic"}, headers=headers
    )
    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json()
    # A key is unique per route: its method and path template are the scope it was kept under.
    scope = await billing.scalar(
        "SELECT scope FROM idempotency_keys WHERE user_id = :u AND key = 'subscribe-basic-1'",
        u=user_id,
    )
    assert scope == "POST /api/v1/subscription"
    other_body = await billing.http.post(
        "/api/v1/subscription", json={"planId": "plan_premium"}, headers=headers
    )
    assert other_body.status_code == 422
    customer = await billing.scalar(
        "SELECT stripe_customer_id FROM customers WHERE user_id = :u", u=user_id
    )
    listed = await billing.stripe.v1.subscriptions.list_async({"customer": customer})
    assert len(listed.data) == 1


async def test_a_declined_first_payment_changes_nothing_and_a_new_card_succeeds(
    billing: Billing,
) -> None:
    user_id = await billing.register_user()
    auth = bearer(user_id)
    failing = await billing.http.post(
        "/api/v1/payment-methods",
        json={"paymentMethodId": "pm_card_chargeCustomerFail"},
        headers=auth,
    )
    assert failing.json()["isDefault"] is True
    declined = await billing.http.post(
        "/api/v1/subscription", json={"planId": "plan_basic"}, headers=auth
    )
    assert declined.status_code == 402, declined.text
    mine = (await billing.http.get("/api/v1/subscription", headers=auth)).json()
    assert (mine["tier"], mine["revision"]) == ("FREE", 1)

    await billing.http.post(
        "/api/v1/payment-methods",
        json={"paymentMethodId": "pm_card_visa", "makeDefault": True},
        headers=auth,
    )
    accepted = await billing.http.post(
        "/api/v1/subscription", json={"planId": "plan_basic"}, headers=auth
    )
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["tier"], accepted.json()["revision"]) == ("BASIC", 2)
    customer = await billing.scalar(
        "SELECT stripe_customer_id FROM customers WHERE user_id = :u", u=user_id
    )
    listed = await billing.stripe.v1.subscriptions.list_async(
        {"customer": customer, "status": "all"}
    )
    assert sorted(s.status for s in listed.data) == ["active", "canceled"]


async def test_choosing_a_cheaper_plan_while_cancelling_keeps_paying_on_it(
    billing: Billing,
) -> None:
    user_id = await billing.register_user()
    auth = bearer(user_id)
    await billing.http.post(
        "/api/v1/payment-methods", json={"paymentMethodId": "pm_card_visa"}, headers=auth
    )
    await billing.http.post("/api/v1/subscription", json={"planId": "plan_premium"}, headers=auth)
    cancelling = await billing.http.post("/api/v1/subscription/cancel", headers=auth)
    assert cancelling.json()["cancelAtPeriodEnd"] is True
    cheaper = await billing.http.post(
        "/api/v1/subscription", json={"planId": "plan_basic"}, headers=auth
    )
    body = cheaper.json()
    assert (body["tier"], body["downgradeTo"], body["cancelAtPeriodEnd"]) == (
        "PREMIUM",
        "BASIC",
        False,
    )
    assert body["revision"] == 4
    again = await billing.http.post(
        "/api/v1/subscription", json={"planId": "plan_basic"}, headers=auth
    )
    assert again.json()["revision"] == 4  # nothing changed, nothing announced
    stripe_subscription_id = await billing.scalar(
        "SELECT stripe_subscription_id FROM subscriptions WHERE user_id = :u", u=user_id
    )
    at_stripe = await billing.stripe.v1.subscriptions.retrieve_async(stripe_subscription_id)
    assert at_stripe.cancel_at_period_end is False
