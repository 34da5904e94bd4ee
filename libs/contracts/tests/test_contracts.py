from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

import lib_contracts as c
from lib_messaging.envelope import Envelope, EventPayload, registry

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
T1 = T0 + timedelta(days=30)

EXAMPLES: dict[str, EventPayload] = {
    "identity.user.registered": c.UserRegistered(
        user_id="usr_1",
        email="ada@example.com",
        name="Ada",
        phone="+49 30 1234567",
        role="USER",
        referred_by_id="usr_0",
        registered_at=T0,
    ),
    "identity.user.updated": c.UserUpdated(
        user_id="usr_1",
        revision=3,
        updated_at=T0,
        email="ada@example.com",
        name="Ada L.",
        image="https://cdn.example.com/a.png",
        company="Analytical Engines",
        role="ADMIN",
        email_verified_at=T0,
    ),
    "identity.user.email_verified": c.UserEmailVerified(
        user_id="usr_1", email="ada@example.com", verified_at=T0
    ),
    "identity.user.deleted": c.UserDeleted(user_id="usr_1", deleted_at=T0),
    "identity.apikey.created": c.ApiKeyCreated(
        api_key_id="key_1",
        user_id="usr_1",
        key_prefix="sk_live_ab12",
        name="CI",
        status="active",
        tier="PRO",
        scopes=["market:read"],
        expires_at=T1,
        created_at=T0,
    ),
    "identity.apikey.revoked": c.ApiKeyRevoked(
        api_key_id="key_1", user_id="usr_1", key_prefix="sk_live_ab12", revoked_at=T0
    ),
    "identity.trial.created": c.TrialCreated(
        workspace_id="tw_1",
        user_id="usr_1",
        name="Acme trial",
        slug="acme-trial",
        tier="standard",
        created_at=T0,
        expires_at=T1,
    ),
    "identity.trial.converted": c.TrialConverted(
        workspace_id="tw_1", user_id="usr_1", tier="enterprise", converted_at=T0
    ),
    "identity.trial.expired": c.TrialExpired(workspace_id="tw_1", user_id="usr_1", expired_at=T1),
    "identity.trial.cancelled": c.TrialCancelled(
        workspace_id="tw_1", user_id="usr_1", cancelled_at=T0
    ),
    "identity.referral.completed": c.ReferralCompleted(
        referral_id="ref_1",
        referrer_id="usr_0",
        referee_id="usr_1",
        tokens_granted=50,
        completed_at=T0,
    ),
    "billing.subscription.updated": c.SubscriptionUpdated(
        subscription_id="sub_1",
        user_id="usr_1",
        revision=2,
        updated_at=T0,
        plan_id="plan_pro",
        plan_name="Pro",
        tier="PRO",
        status="ACTIVE",
        current_period_start=T0,
        current_period_end=T1,
        cancel_at_period_end=True,
        downgrade_to="STARTER",
        tokens_per_month=500,
        api_access=True,
    ),
    "billing.payment.succeeded": c.PaymentSucceeded(
        payment_intent_id="pi_1",
        booking_id="bkg_1",
        user_id="usr_1",
        amount_cents=18900,
        currency="eur",
        succeeded_at=T0,
    ),
    "billing.payment.failed": c.PaymentFailed(
        payment_intent_id="pi_2",
        extension_id="ext_1",
        user_id="usr_1",
        amount_cents=4500,
        currency="eur",
        failure_code="card_declined",
        failure_message="Your card was declined.",
        failed_at=T0,
    ),
    "billing.tokens.purchased": c.TokensPurchased(
        payment_id="pay_1",
        payment_intent_id="pi_3",
        user_id="usr_1",
        package_id="pkg_1",
        tokens=100,
        amount_cents=499,
        currency="usd",
        transaction_id="txn_1",
        balance_after=110,
        purchased_at=T0,
    ),
    "billing.tokens.purchase_failed": c.TokensPurchaseFailed(
        payment_id="pay_2",
        payment_intent_id="pi_4",
        user_id="usr_1",
        package_id="pkg_1",
        amount_cents=499,
        currency="usd",
        failure_code="card_declined",
        failure_message="Your card was declined.",
        failed_at=T0,
    ),
    "billing.stripe_event.processing_requested": c.StripeEventProcessingRequested(
        stripe_event_row_id="se_1",
        stripe_event_id="evt_1",
        stripe_event_type="customer.subscription.updated",
    ),
    "booking.booking.status_changed": c.BookingStatusChanged(
        booking_id="bkg_1",
        user_id="usr_1",
        revision=7,
        changed_at=T0,
        status="COMPLETED",
        previous_status="IN_TRANSIT_TO_CUSTOMER",
        payment_status="PAID",
        amount_cents=18900,
        currency="eur",
        payment_intent_id="pi_1",
    ),
    "booking.extension.approved": c.ExtensionApproved(
        extension_id="ext_1",
        booking_id="bkg_1",
        user_id="usr_1",
        amount_cents=4500,
        currency="eur",
        payment_intent_id="pi_2",
        approved_at=T0,
    ),
    "booking.odoo.sync_requested": c.OdooSyncRequested(
        entity_type="booking", entity_id="bkg_1", reason="completed", requested_at=T0
    ),
    "content.generation.completed": c.GenerationCompleted(
        generation_id="gen_1",
        kind="image_enhancement",
        user_id="usr_1",
        reservation_id="rsv_1",
        tokens_reserved=10,
        completed_at=T0,
    ),
    "content.generation.failed": c.GenerationFailed(
        generation_id="gen_2",
        kind="mcp_generation",
        user_id="usr_1",
        reservation_id="rsv_2",
        tokens_reserved=10,
        error_code="model_timeout",
        error_message="upstream model timed out",
        failed_at=T0,
    ),
    "content.api_usage.recorded": c.ContentApiUsageRecorded(
        batch_id="batch_1",
        calls=[
            c.ApiCallRecord(
                call_id="call_1",
                api_key_id="key_1",
                endpoint="/api/v1/characters",
                method="GET",
                status_code=200,
                latency_ms=12,
                called_at=T0,
            )
        ],
    ),
    "market_data.api_usage.recorded": c.MarketDataApiUsageRecorded(
        batch_id="batch_2",
        calls=[
            c.ApiCallRecord(
                call_id="call_2",
                api_key_id="key_1",
                endpoint="/api/v1/metrics",
                method="GET",
                status_code=429,
                latency_ms=3,
                called_at=T0,
            )
        ],
    ),
}

NAMED_EVENTS = {
    # DESIGN.md, "Main flows"
    "identity.user.registered",
    "identity.user.deleted",
    "identity.apikey.revoked",
    "billing.subscription.updated",
    "billing.payment.succeeded",
    "billing.payment.failed",
    "booking.booking.status_changed",
    "booking.extension.approved",
    "booking.odoo.sync_requested",
    "content.generation.completed",
    "content.generation.failed",
    # identity / billing issues
    "identity.user.updated",
    "identity.user.email_verified",
    "identity.apikey.created",
    "identity.trial.created",
    "identity.trial.converted",
    "identity.trial.expired",
    "identity.trial.cancelled",
    "identity.referral.completed",
    "billing.stripe_event.processing_requested",
    "billing.tokens.purchased",
    "billing.tokens.purchase_failed",
    # identity issue 3: API usage, reported by the services that serve API-key calls
    "content.api_usage.recorded",
    "market_data.api_usage.recorded",
}

CASES = sorted(EXAMPLES.items())
IDS = [name for name, _ in CASES]


def _contract_keys() -> set[tuple[str, int]]:
    """Registered (type, version) pairs whose model lives in lib_contracts."""
    return {
        key for key in registry if registry.model_for(*key).__module__.startswith("lib_contracts.")
    }


def _round_trip(payload: EventPayload) -> tuple[Envelope, EventPayload]:
    env = Envelope.wrap(payload, source="test", subject="agg_1", correlation_id="corr_1")
    decoded = Envelope.model_validate_json(env.to_json())
    return decoded, decoded.payload()


def test_every_named_event_is_registered_as_v1() -> None:
    for name in NAMED_EVENTS:
        assert (name, 1) in registry, name


def test_every_registered_contract_has_an_example() -> None:
    assert _contract_keys() == {(p.event_type, p.event_version) for p in EXAMPLES.values()}
    assert set(EXAMPLES) == NAMED_EVENTS


@pytest.mark.parametrize(("name", "payload"), CASES, ids=IDS)
def test_example_is_filed_under_its_type(name: str, payload: EventPayload) -> None:
    assert payload.event_type == name
    assert registry.model_for(name, payload.event_version) is type(payload)
    assert payload.routing_key() == f"{name}.v1"
    assert type(payload).__doc__


@pytest.mark.parametrize(("name", "payload"), CASES, ids=IDS)
def test_round_trips_through_the_envelope(name: str, payload: EventPayload) -> None:
    env, decoded = _round_trip(payload)
    assert env.type == name
    assert env.version == 1
    assert type(decoded) is type(payload)
    assert decoded == payload


@pytest.mark.parametrize(("name", "payload"), CASES, ids=IDS)
def test_json_keys_are_camel_case(name: str, payload: EventPayload) -> None:
    data = payload.model_dump(mode="json", by_alias=True)
    for key in data:
        assert "_" not in key, key
        assert key[0].islower(), key
    expected = {f.alias or n for n, f in type(payload).model_fields.items()}
    assert set(data) == expected


@pytest.mark.parametrize(("name", "payload"), CASES, ids=IDS)
def test_unknown_fields_are_refused(name: str, payload: EventPayload) -> None:
    data: dict[str, Any] = payload.model_dump(mode="json", by_alias=True)
    with pytest.raises(ValidationError):
        type(payload).model_validate({**data, "surpriseField": 1})


@pytest.mark.parametrize(("name", "payload"), CASES, ids=IDS)
def test_ids_must_not_be_empty(name: str, payload: EventPayload) -> None:
    data: dict[str, Any] = payload.model_dump(mode="json", by_alias=True)
    id_keys = [key for key, value in data.items() if key.endswith("Id") and value is not None]
    assert id_keys
    for key in id_keys:
        with pytest.raises(ValidationError):
            type(payload).model_validate({**data, key: ""})


def _data(name: str, **changes: Any) -> dict[str, Any]:
    return {**EXAMPLES[name].model_dump(mode="json", by_alias=True), **changes}


@pytest.mark.parametrize(
    "name",
    [
        "billing.payment.succeeded",
        "billing.payment.failed",
        "booking.booking.status_changed",
        "booking.extension.approved",
    ],
)
def test_negative_amount_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        registry.model_for(name, 1).model_validate(_data(name, amountCents=-1))


@pytest.mark.parametrize("name", ["billing.payment.succeeded", "billing.payment.failed"])
def test_payment_names_exactly_one_booking_or_extension(name: str) -> None:
    model = registry.model_for(name, 1)
    with pytest.raises(ValidationError, match="exactly one"):
        model.model_validate(_data(name, bookingId=None, extensionId=None))
    with pytest.raises(ValidationError, match="exactly one"):
        model.model_validate(_data(name, bookingId="bkg_1", extensionId="ext_1"))
    decoded = model.model_validate(_data(name, bookingId=None, extensionId="ext_9"))
    assert decoded.model_dump()["extension_id"] == "ext_9"


def test_currency_is_three_lowercase_letters() -> None:
    name = "billing.payment.succeeded"
    for bad in ("EUR", "euro", ""):
        with pytest.raises(ValidationError):
            c.PaymentSucceeded.model_validate(_data(name, currency=bad))


def test_statuses_come_from_the_seeds() -> None:
    with pytest.raises(ValidationError):
        c.BookingStatusChanged.model_validate(
            _data("booking.booking.status_changed", status="DONE")
        )
    with pytest.raises(ValidationError):
        c.SubscriptionUpdated.model_validate(_data("billing.subscription.updated", status="active"))
    with pytest.raises(ValidationError):
        c.UserUpdated.model_validate(_data("identity.user.updated", role="OWNER"))


def test_state_events_need_a_positive_revision() -> None:
    for name in (
        "identity.user.updated",
        "billing.subscription.updated",
        "booking.booking.status_changed",
    ):
        with pytest.raises(ValidationError):
            registry.model_for(name, 1).model_validate(_data(name, revision=0))


def test_times_must_be_aware_and_are_normalised_to_utc() -> None:
    with pytest.raises(ValidationError):
        c.UserDeleted(user_id="usr_1", deleted_at=datetime(2026, 3, 1, 9, 30))
    berlin = timezone(timedelta(hours=1))
    event = c.UserDeleted(user_id="usr_1", deleted_at=datetime(2026, 3, 1, 10, 30, tzinfo=berlin))
    assert event.deleted_at.utcoffset() == timedelta(0)
    assert event.deleted_at == T0
    assert event.model_dump(mode="json", by_alias=True)["deletedAt"] == "2026-03-01T09:30:00Z"


@pytest.mark.parametrize("name", ["content.api_usage.recorded", "market_data.api_usage.recorded"])
def test_usage_batches_hold_one_to_a_thousand_calls(name: str) -> None:
    model = registry.model_for(name, 1)
    call = _data(name)["calls"][0]
    with pytest.raises(ValidationError):
        model.model_validate(_data(name, calls=[]))
    with pytest.raises(ValidationError):
        model.model_validate(_data(name, calls=[call] * 1001))
    with pytest.raises(ValidationError):
        model.model_validate(_data(name, calls=[{**call, "statusCode": 42}]))
    assert len(model.model_validate(_data(name, calls=[call] * 1000)).model_dump()["calls"]) == 1000


def test_snake_case_names_are_accepted_too() -> None:
    assert c.UserDeleted.model_validate({"user_id": "u", "deleted_at": T0}).user_id == "u"
