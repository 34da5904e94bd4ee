"""Tables of the billing service, all in its own `billing` schema (outbox and inbox too).

One table per concept, keeping every field the seeds give: Stripe customers, plans and
subscriptions (seed 000's API subscriptions, seed 001's Subscription, seed 004's Subscription
and SubscriptionPlan), token packages and Stripe payments, the token balance and its
append-only ledger, token reservations, daily quotas (seed 003), vouchers and redemptions,
payment methods (seed 002), the Stripe webhook inbox and the two idempotency-key tables.
Money is integer cents, times are UTC timestamptz, enums are CHECK constraints.
Users live in identity: `user_id` is that id, without a foreign key (another schema).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from lib_database import service_registry


class BillingModel(SQLModel, registry=service_registry("billing")):
    """Base of every table of the billing service."""


metadata = BillingModel.metadata


def new_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)


def _ts(*, index: bool = False) -> Any:
    """An optional timestamp column."""
    return Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True, index=index)
    )


def _created_at() -> Any:
    return Field(default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False))


def _user_id(*, unique: bool = False, index: bool = True) -> Any:
    """The identity user id (no foreign key: users live in identity's schema)."""
    return Field(sa_column=Column(Text, nullable=False, unique=unique, index=index and not unique))


def _json() -> Any:
    return Field(default=None, sa_column=Column("metadata", JSONB, nullable=True))


def _in(column: str, values: type[StrEnum], *, nullable: bool = False) -> str:
    """CHECK clause limiting a text column to an enum's values."""
    listed = ", ".join(f"'{v.value}'" for v in values)
    clause = f"{column} IN ({listed})"
    return f"{column} IS NULL OR {clause}" if nullable else clause


class SubscriptionTier(StrEnum):
    """lib_contracts' SubscriptionTier: seed 004's token plans and seed 000's API plans."""

    FREE = "FREE"
    BASIC = "BASIC"
    STANDARD = "STANDARD"
    PREMIUM = "PREMIUM"
    STARTER = "STARTER"
    PRO = "PRO"
    ENTERPRISE = "ENTERPRISE"


class SubscriptionStatus(StrEnum):
    """Seed 004's SubscriptionStatus (lib_contracts); Stripe's statuses are mapped onto it."""

    ACTIVE = "ACTIVE"
    CANCELED = "CANCELED"
    PAST_DUE = "PAST_DUE"
    UNPAID = "UNPAID"
    TRIALING = "TRIALING"


class TokenTransactionType(StrEnum):
    """Seed 004's TokenTransactionType: earned by regeneration, purchase, voucher, referral or
    subscription; spent; refunded; admin adjustment. (A released reservation writes no row:
    held tokens never left the ledger.)"""

    EARN_REGENERATION = "EARN_REGENERATION"
    EARN_PURCHASE = "EARN_PURCHASE"
    EARN_VOUCHER = "EARN_VOUCHER"
    EARN_REFERRAL = "EARN_REFERRAL"
    EARN_SUBSCRIPTION = "EARN_SUBSCRIPTION"
    SPEND = "SPEND"
    REFUND = "REFUND"
    ADMIN_ADJUSTMENT = "ADMIN_ADJUSTMENT"
    # Plan tokens left unused at a regeneration beyond the plan's maxRollover.
    EXPIRE_ROLLOVER = "EXPIRE_ROLLOVER"


class ReservationStatus(StrEnum):
    HELD = "HELD"
    COMMITTED = "COMMITTED"
    RELEASED = "RELEASED"


class StripePaymentStatus(StrEnum):
    """Seed 004's StripePaymentStatus plus the manual-capture states of booking payments."""

    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"  # manual capture: the amount is held on the card
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    REFUNDED = "REFUNDED"


class VoucherType(StrEnum):
    FIXED_TOKENS = "FIXED_TOKENS"
    PERCENTAGE_BONUS = "PERCENTAGE_BONUS"
    SUBSCRIPTION_TRIAL = "SUBSCRIPTION_TRIAL"


class VoucherStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    EXPIRED = "EXPIRED"
    DEPLETED = "DEPLETED"


class Customer(BillingModel, table=True):
    """The Stripe customer of a user (seed 004's users.stripeCustomerId, seed 001's
    Subscription.stripeCustomerId); created on `identity.user.registered`."""

    __tablename__ = "customers"

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = _user_id(unique=True)
    # Null until Stripe has answered the create call (its idempotency key is stored first).
    stripe_customer_id: str | None = Field(
        default=None, sa_column=Column(Text, unique=True, nullable=True)
    )
    email: str | None = None
    name: str | None = None
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()
    # Set when identity deleted the user: the row stays, emptied, as a tombstone, so a late
    # identity.user.registered cannot bring the user's billing back.
    deleted_at: datetime | None = _ts()


class SubscriptionPlan(BillingModel, table=True):
    """Seed 004's SubscriptionPlan, one per tier; seeded by migration 0002 with stable ids."""

    __tablename__ = "subscription_plans"
    __table_args__ = (
        CheckConstraint(_in("tier", SubscriptionTier), name="tier"),
        CheckConstraint("tokens_per_month >= 0", name="tokens_per_month"),
        CheckConstraint("price_cents >= 0", name="price_cents"),
        CheckConstraint("currency ~ '^[a-z]{3}$'", name="currency"),
        CheckConstraint("max_rollover >= 0", name="max_rollover"),
        CheckConstraint("daily_generations >= 0", name="daily_generations"),
        CheckConstraint("billing_interval IN ('month', 'year')", name="billing_interval"),
    )

    id: str = Field(primary_key=True)
    name: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    tier: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    tokens_per_month: int
    # Seed 004's priceGBP, as integer cents (pence) with its currency.
    price_cents: int
    currency: str = Field(default="gbp", nullable=False)
    billing_interval: str = Field(default="month", nullable=False)
    # The Stripe plan (localstripe has no Prices) / price the subscriptions are created on.
    stripe_price_id: str | None = Field(
        default=None, sa_column=Column(Text, unique=True, nullable=True)
    )
    stripe_product_id: str | None = None
    max_rollover: int
    priority: bool
    api_access: bool
    # Seed 003's daily generation quota follows the plan.
    daily_generations: int
    active: bool = Field(default=True, nullable=False)
    sort_order: int = Field(default=0, nullable=False)
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class Subscription(BillingModel, table=True):
    """A user's one subscription (seed 001: userId unique): seed 000's API subscriptions and
    seed 004's token plans alike, with rollover and a downgrade deferred to the period end."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(_in("status", SubscriptionStatus), name="status"),
        CheckConstraint(_in("tier", SubscriptionTier), name="tier"),
        CheckConstraint(_in("downgrade_to", SubscriptionTier, nullable=True), name="downgrade_to"),
        CheckConstraint("tokens_per_month >= 0", name="tokens_per_month"),
        CheckConstraint("rollover_tokens >= 0", name="rollover_tokens"),
        CheckConstraint("max_rollover >= 0", name="max_rollover"),
        CheckConstraint("rollover_tokens <= max_rollover", name="rollover_capped"),
        CheckConstraint("revision >= 1", name="revision"),
        CheckConstraint(
            "current_period_end IS NULL OR current_period_start IS NULL"
            " OR current_period_end >= current_period_start",
            name="period",
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = _user_id(unique=True)
    customer_id: str = Field(
        sa_column=Column(
            Text, ForeignKey("billing.customers.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    plan_id: str = Field(
        sa_column=Column(Text, ForeignKey("billing.subscription_plans.id"), nullable=False)
    )
    stripe_subscription_id: str | None = Field(
        default=None, sa_column=Column(Text, unique=True, nullable=True)
    )
    stripe_price_id: str | None = None
    status: str = Field(default=SubscriptionStatus.ACTIVE, nullable=False)
    tier: str = Field(default=SubscriptionTier.FREE, nullable=False)
    current_period_start: datetime | None = _ts()
    current_period_end: datetime | None = _ts(index=True)
    cancel_at_period_end: bool = Field(default=False, nullable=False)
    downgrade_to: str | None = None
    tokens_per_month: int
    rollover_tokens: int = Field(default=0, nullable=False)
    max_rollover: int
    canceled_at: datetime | None = _ts()
    # +1 on every change, carried by billing.subscription.updated (consumers drop stale ones).
    revision: int = Field(default=1, nullable=False)
    # Creation time of the newest Stripe event applied: an older one never rolls state back.
    stripe_event_created_at: datetime | None = _ts()
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class TokensPackage(BillingModel, table=True):
    """Seed 004's TokensPackage: tokens bought once with a PaymentIntent."""

    __tablename__ = "tokens_packages"
    __table_args__ = (
        CheckConstraint("tokens > 0", name="tokens"),
        CheckConstraint("price_cents > 0", name="price_cents"),
        CheckConstraint("currency ~ '^[a-z]{3}$'", name="currency"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    name: str
    tokens: int
    # Seed 004's priceUSD, as integer cents with its currency.
    price_cents: int
    currency: str = Field(default="usd", nullable=False)
    stripe_price_id: str | None = None
    active: bool = Field(default=True, nullable=False)
    sort_order: int = Field(default=0, nullable=False)
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class StripePayment(BillingModel, table=True):
    """One Stripe PaymentIntent: a token package purchase (seed 004) or a booking/extension
    payment (seed 002, manual capture). Exactly one of package, booking and extension."""

    __tablename__ = "stripe_payments"
    __table_args__ = (
        CheckConstraint(_in("status", StripePaymentStatus), name="status"),
        CheckConstraint("amount_cents >= 0", name="amount_cents"),
        CheckConstraint("currency ~ '^[a-z]{3}$'", name="currency"),
        CheckConstraint("tokens_granted >= 0", name="tokens_granted"),
        CheckConstraint(
            "(package_id IS NOT NULL)::int + (booking_id IS NOT NULL)::int"
            " + (extension_id IS NOT NULL)::int = 1",
            name="one_target",
        ),
        CheckConstraint("capture_method IN ('automatic', 'manual')", name="capture_method"),
        Index("ix_stripe_payments_user_time", "user_id", "created_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = _user_id(index=False)
    package_id: str | None = Field(
        default=None,
        sa_column=Column(Text, ForeignKey("billing.tokens_packages.id"), nullable=True),
    )
    booking_id: str | None = Field(default=None, sa_column=Column(Text, index=True))
    extension_id: str | None = Field(
        default=None, sa_column=Column(Text, unique=True, nullable=True)
    )
    tokens_granted: int = Field(default=0, nullable=False)
    # Seed 004's amountUSD, as integer cents with its currency.
    amount_cents: int
    currency: str
    # Null until Stripe has answered the create call (its idempotency key is stored first).
    stripe_payment_intent_id: str | None = Field(
        default=None, sa_column=Column(Text, unique=True, nullable=True)
    )
    capture_method: str = Field(default="automatic", nullable=False)
    status: str = Field(default=StripePaymentStatus.PENDING, nullable=False)
    failure_code: str | None = None
    failure_message: str | None = None
    metadata_: dict[str, Any] | None = _json()
    # Creation time of the newest Stripe event applied: an older one never rolls state back.
    stripe_event_created_at: datetime | None = _ts()
    captured_at: datetime | None = _ts()
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class UserTokenBalance(BillingModel, table=True):
    """Seed 004's UserTokenBalance: one per user, never negative, equal to its ledger's sum.

    `reserved` tokens are held for running jobs: part of the balance (not yet in the ledger)
    but not spendable. `plan_tokens` are the plan's tokens left this period (spent first);
    at the next regeneration they roll over up to the plan's maxRollover.
    """

    __tablename__ = "user_token_balances"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint(_in("tier", SubscriptionTier), name="tier"),
        CheckConstraint("reserved >= 0 AND reserved <= balance", name="reserved_within_balance"),
        CheckConstraint("plan_tokens >= 0", name="plan_tokens_not_negative"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = _user_id(unique=True)
    balance: int = Field(default=0, nullable=False)
    reserved: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    plan_tokens: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    last_regeneration: datetime = _created_at()
    tier: str = Field(default=SubscriptionTier.FREE, nullable=False)
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class TokenTransaction(BillingModel, table=True):
    """Seed 004's TokenTransaction: the append-only ledger, `balance_after` on every row.

    (user, type, source, source_id) is unique when source_id is given, so one cause (a
    payment, a voucher redemption, a reservation, a regeneration period) is applied once.
    """

    __tablename__ = "token_transactions"
    __table_args__ = (
        CheckConstraint(_in("type", TokenTransactionType), name="type"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint(
            "(type IN ('SPEND', 'EXPIRE_ROLLOVER') AND amount < 0)"
            " OR (type LIKE 'EARN\\_%' AND amount > 0)"
            " OR (type = 'REFUND' AND amount > 0) OR type = 'ADMIN_ADJUSTMENT'",
            name="amount_sign",
        ),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        Index("ix_token_transactions_user_time", "user_id", "created_at", "id"),
        Index(
            "uq_token_transactions_cause",
            "user_id",
            "type",
            "source",
            "source_id",
            unique=True,
            postgresql_where=text("source_id IS NOT NULL"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = _user_id(index=False)
    amount: int
    type: str
    source: str | None = None
    source_id: str | None = None
    balance_after: int
    metadata_: dict[str, Any] | None = _json()
    created_at: datetime = _created_at()


class TokenReservation(BillingModel, table=True):
    """Tokens held for a paid job until it completes (commit) or fails/expires (release)."""

    __tablename__ = "token_reservations"
    __table_args__ = (
        CheckConstraint(_in("status", ReservationStatus), name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("(status = 'COMMITTED') = (committed_at IS NOT NULL)", name="committed_at"),
        CheckConstraint("(status = 'RELEASED') = (released_at IS NOT NULL)", name="released_at"),
        # The expiry job finds held reservations past their deadline.
        Index(
            "ix_token_reservations_held_expiry",
            "expires_at",
            postgresql_where=text("status = 'HELD'"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = _user_id()
    job_id: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    amount: int
    status: str = Field(default=ReservationStatus.HELD, nullable=False)
    # What the job is (e.g. content.generation), for the ledger's `source`.
    source: str | None = None
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    committed_at: datetime | None = _ts()
    released_at: datetime | None = _ts()
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class DailyQuota(BillingModel, table=True):
    """Seed 003's daily generation quota: one row per user per UTC day (a new day starts at 0)."""

    __tablename__ = "daily_quotas"
    __table_args__ = (
        UniqueConstraint("user_id", "quota_date", name="uq_daily_quotas_user_day"),
        CheckConstraint("daily_limit >= 0", name="daily_limit"),
        CheckConstraint("used >= 0 AND used <= daily_limit", name="used_within_limit"),
        CheckConstraint(_in("tier", SubscriptionTier), name="tier"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = _user_id(index=False)
    quota_date: date = Field(sa_column=Column(Date, nullable=False))
    tier: str
    daily_limit: int
    used: int = Field(default=0, nullable=False)
    # The next UTC midnight, shown to callers refused past the limit.
    resets_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class Voucher(BillingModel, table=True):
    """Seed 004's Voucher; `current_uses` can never pass `max_uses`."""

    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint(_in("type", VoucherType), name="type"),
        CheckConstraint(_in("status", VoucherStatus), name="status"),
        CheckConstraint("value > 0", name="value_positive"),
        CheckConstraint("max_uses IS NULL OR max_uses > 0", name="max_uses_positive"),
        CheckConstraint(
            "current_uses >= 0 AND (max_uses IS NULL OR current_uses <= max_uses)",
            name="uses_within_max",
        ),
        # The admins' list, newest first.
        Index("ix_vouchers_time", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    code: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    type: str
    value: int
    max_uses: int | None = None
    current_uses: int = Field(default=0, nullable=False)
    expires_at: datetime | None = _ts()
    status: str = Field(default=VoucherStatus.ACTIVE, nullable=False)
    metadata_: dict[str, Any] | None = _json()
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class VoucherRedemption(BillingModel, table=True):
    """Seed 004's VoucherRedemption: a user redeems a voucher at most once."""

    __tablename__ = "voucher_redemptions"
    __table_args__ = (
        UniqueConstraint("voucher_id", "user_id", name="uq_voucher_redemptions_voucher_user"),
        CheckConstraint("tokens_granted >= 0", name="tokens_granted"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    voucher_id: str = Field(
        sa_column=Column(
            Text, ForeignKey("billing.vouchers.id", ondelete="CASCADE"), nullable=False
        )
    )
    user_id: str = _user_id()
    tokens_granted: int = Field(default=0, nullable=False)
    redeemed_at: datetime = _created_at()


class PaymentMethod(BillingModel, table=True):
    """Seed 002's PaymentMethod: a card attached to the user's Stripe customer (display
    fields only; the card itself stays at Stripe). At most one active default per user."""

    __tablename__ = "payment_methods"
    __table_args__ = (
        CheckConstraint(
            "card_exp_month IS NULL OR card_exp_month BETWEEN 1 AND 12", name="card_exp_month"
        ),
        CheckConstraint("card_last4 IS NULL OR card_last4 ~ '^[0-9]{4}$'", name="card_last4"),
        CheckConstraint("NOT is_default OR is_active", name="default_is_active"),
        Index("ix_payment_methods_user_time", "user_id", "created_at", "id"),
        Index(
            "uq_payment_methods_one_default",
            "user_id",
            unique=True,
            postgresql_where=text("is_default"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = _user_id(index=False)
    stripe_payment_method_id: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    type: str
    card_brand: str | None = None
    card_last4: str | None = None
    card_exp_month: int | None = None
    card_exp_year: int | None = None
    is_default: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    is_active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class StripeEvent(BillingModel, table=True):
    """The Stripe webhook inbox: each event stored once (raw body as received), processed later
    by the worker; `processed_at` is set when its effect has been applied."""

    __tablename__ = "stripe_events"
    __table_args__ = (
        Index(
            "ix_stripe_events_unprocessed",
            "received_at",
            postgresql_where=text("processed_at IS NULL"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    stripe_event_id: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    type: str
    api_version: str | None = None
    livemode: bool = Field(default=False, nullable=False)
    # The id of the object the event is about (sub_..., pi_..., cus_...).
    object_id: str | None = Field(default=None, sa_column=Column(Text, index=True))
    # Stripe's `created` of the event: orders events about one object.
    stripe_created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = _created_at()
    processed_at: datetime | None = _ts()
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    last_error: str | None = None


class IdempotencyKey(BillingModel, table=True):
    """`Idempotency-Key` of a POST that creates or charges: the first request's fingerprint
    and response, replayed for a retry with the same key (a different body is refused)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "scope", "key", name="uq_idempotency_keys_user_scope_key"),
        CheckConstraint(
            "(status_code IS NULL) = (completed_at IS NULL)", name="completed_has_response"
        ),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = _user_id(index=False)
    # The route (method and path template) the key was used on.
    scope: str
    key: str
    request_fingerprint: str
    status_code: int | None = None
    response_body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    created_at: datetime = _created_at()
    completed_at: datetime | None = _ts()
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class StripeIdempotencyKey(BillingModel, table=True):
    """The idempotency key of an outgoing Stripe create call, stored (committed) before the
    call: a retry after a crash reuses it, so Stripe creates the object once."""

    __tablename__ = "stripe_idempotency_keys"
    __table_args__ = (
        UniqueConstraint(
            "operation", "target_id", name="uq_stripe_idempotency_keys_operation_target"
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    key: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    # What is created (e.g. customer.create) and for which of our rows.
    operation: str
    target_id: str
    stripe_object_id: str | None = None
    created_at: datetime = _created_at()
    completed_at: datetime | None = _ts()
