"""Billing tables: customers, plans (seeded), subscriptions, packages, payments, the token
ledger, reservations, daily quotas, vouchers, payment methods, the Stripe webhook inbox and
the idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:27:07.202946
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("stripe_customer_id", sa.Text(), nullable=True),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("stripe_customer_id", name=op.f("uq_customers_stripe_customer_id")),
        sa.UniqueConstraint("user_id", name=op.f("uq_customers_user_id")),
        schema="billing",
    )
    op.create_table(
        "daily_quotas",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("quota_date", sa.Date(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("daily_limit", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("resets_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "tier IN ('FREE', 'BASIC', 'STANDARD', 'PREMIUM', 'STARTER', 'PRO', 'ENTERPRISE')",
            name=op.f("ck_daily_quotas_tier"),
        ),
        sa.CheckConstraint("daily_limit >= 0", name=op.f("ck_daily_quotas_daily_limit")),
        sa.CheckConstraint(
            "used >= 0 AND used <= daily_limit", name=op.f("ck_daily_quotas_used_within_limit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_quotas")),
        sa.UniqueConstraint("user_id", "quota_date", name="uq_daily_quotas_user_day"),
        schema="billing",
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("request_fingerprint", sa.String(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status_code IS NULL) = (completed_at IS NULL)",
            name=op.f("ck_idempotency_keys_completed_has_response"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("user_id", "scope", "key", name="uq_idempotency_keys_user_scope_key"),
        schema="billing",
    )
    op.create_index(
        "ix_idempotency_keys_expires_at",
        "idempotency_keys",
        ["expires_at"],
        unique=False,
        schema="billing",
    )
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("stripe_payment_method_id", sa.Text(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("card_brand", sa.String(), nullable=True),
        sa.Column("card_last4", sa.String(), nullable=True),
        sa.Column("card_exp_month", sa.Integer(), nullable=True),
        sa.Column("card_exp_year", sa.Integer(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "card_last4 IS NULL OR card_last4 ~ '^[0-9]{4}$'",
            name=op.f("ck_payment_methods_card_last4"),
        ),
        sa.CheckConstraint(
            "NOT is_default OR is_active", name=op.f("ck_payment_methods_default_is_active")
        ),
        sa.CheckConstraint(
            "card_exp_month IS NULL OR card_exp_month BETWEEN 1 AND 12",
            name=op.f("ck_payment_methods_card_exp_month"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
        sa.UniqueConstraint(
            "stripe_payment_method_id", name=op.f("uq_payment_methods_stripe_payment_method_id")
        ),
        schema="billing",
    )
    op.create_index(
        "ix_payment_methods_user_time",
        "payment_methods",
        ["user_id", "created_at", "id"],
        unique=False,
        schema="billing",
    )
    op.create_index(
        "uq_payment_methods_one_default",
        "payment_methods",
        ["user_id"],
        unique=True,
        schema="billing",
        postgresql_where=sa.text("is_default"),
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("stripe_event_id", sa.Text(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("api_version", sa.String(), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("object_id", sa.Text(), nullable=True),
        sa.Column("stripe_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
        sa.UniqueConstraint("stripe_event_id", name=op.f("uq_stripe_events_stripe_event_id")),
        schema="billing",
    )
    op.create_index(
        op.f("ix_billing_stripe_events_object_id"),
        "stripe_events",
        ["object_id"],
        unique=False,
        schema="billing",
    )
    op.create_index(
        "ix_stripe_events_unprocessed",
        "stripe_events",
        ["received_at"],
        unique=False,
        schema="billing",
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.create_table(
        "stripe_idempotency_keys",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("operation", sa.String(), nullable=False),
        sa.Column("target_id", sa.String(), nullable=False),
        sa.Column("stripe_object_id", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_idempotency_keys")),
        sa.UniqueConstraint("key", name=op.f("uq_stripe_idempotency_keys_key")),
        sa.UniqueConstraint(
            "operation", "target_id", name="uq_stripe_idempotency_keys_operation_target"
        ),
        schema="billing",
    )
    op.create_table(
        "subscription_plans",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("tier", sa.Text(), nullable=False),
        sa.Column("tokens_per_month", sa.Integer(), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("billing_interval", sa.String(), nullable=False),
        sa.Column("stripe_price_id", sa.Text(), nullable=True),
        sa.Column("stripe_product_id", sa.String(), nullable=True),
        sa.Column("max_rollover", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Boolean(), nullable=False),
        sa.Column("api_access", sa.Boolean(), nullable=False),
        sa.Column("daily_generations", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "billing_interval IN ('month', 'year')",
            name=op.f("ck_subscription_plans_billing_interval"),
        ),
        sa.CheckConstraint("currency ~ '^[a-z]{3}$'", name=op.f("ck_subscription_plans_currency")),
        sa.CheckConstraint(
            "tier IN ('FREE', 'BASIC', 'STANDARD', 'PREMIUM', 'STARTER', 'PRO', 'ENTERPRISE')",
            name=op.f("ck_subscription_plans_tier"),
        ),
        sa.CheckConstraint(
            "daily_generations >= 0", name=op.f("ck_subscription_plans_daily_generations")
        ),
        sa.CheckConstraint("max_rollover >= 0", name=op.f("ck_subscription_plans_max_rollover")),
        sa.CheckConstraint("price_cents >= 0", name=op.f("ck_subscription_plans_price_cents")),
        sa.CheckConstraint(
            "tokens_per_month >= 0", name=op.f("ck_subscription_plans_tokens_per_month")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_plans")),
        sa.UniqueConstraint("name", name=op.f("uq_subscription_plans_name")),
        sa.UniqueConstraint("stripe_price_id", name=op.f("uq_subscription_plans_stripe_price_id")),
        sa.UniqueConstraint("tier", name=op.f("uq_subscription_plans_tier")),
        schema="billing",
    )
    op.create_table(
        "token_reservations",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("job_id", sa.Text(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'COMMITTED') = (committed_at IS NOT NULL)",
            name=op.f("ck_token_reservations_committed_at"),
        ),
        sa.CheckConstraint(
            "(status = 'RELEASED') = (released_at IS NOT NULL)",
            name=op.f("ck_token_reservations_released_at"),
        ),
        sa.CheckConstraint(
            "status IN ('HELD', 'COMMITTED', 'RELEASED')", name=op.f("ck_token_reservations_status")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_token_reservations_amount_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_reservations")),
        sa.UniqueConstraint("job_id", name=op.f("uq_token_reservations_job_id")),
        schema="billing",
    )
    op.create_index(
        op.f("ix_billing_token_reservations_user_id"),
        "token_reservations",
        ["user_id"],
        unique=False,
        schema="billing",
    )
    op.create_index(
        "ix_token_reservations_held_expiry",
        "token_reservations",
        ["expires_at"],
        unique=False,
        schema="billing",
        postgresql_where=sa.text("status = 'HELD'"),
    )
    op.create_table(
        "token_transactions",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("source_id", sa.String(), nullable=True),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(type = 'SPEND' AND amount < 0) OR (type LIKE 'EARN\\_%' AND amount > 0) OR (type ="
            " 'REFUND' AND amount > 0) OR type = 'ADMIN_ADJUSTMENT'",
            name=op.f("ck_token_transactions_amount_sign"),
        ),
        sa.CheckConstraint(
            "type IN ('EARN_REGENERATION', 'EARN_PURCHASE', 'EARN_VOUCHER', 'EARN_REFERRAL',"
            " 'EARN_SUBSCRIPTION', 'SPEND', 'REFUND', 'ADMIN_ADJUSTMENT')",
            name=op.f("ck_token_transactions_type"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_token_transactions_amount_not_zero")),
        sa.CheckConstraint(
            "balance_after >= 0", name=op.f("ck_token_transactions_balance_after_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_transactions")),
        schema="billing",
    )
    op.create_index(
        "ix_token_transactions_user_time",
        "token_transactions",
        ["user_id", "created_at", "id"],
        unique=False,
        schema="billing",
    )
    op.create_index(
        "uq_token_transactions_cause",
        "token_transactions",
        ["user_id", "type", "source", "source_id"],
        unique=True,
        schema="billing",
        postgresql_where=sa.text("source_id IS NOT NULL"),
    )
    op.create_table(
        "tokens_packages",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("stripe_price_id", sa.String(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("currency ~ '^[a-z]{3}$'", name=op.f("ck_tokens_packages_currency")),
        sa.CheckConstraint("price_cents > 0", name=op.f("ck_tokens_packages_price_cents")),
        sa.CheckConstraint("tokens > 0", name=op.f("ck_tokens_packages_tokens")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens_packages")),
        schema="billing",
    )
    op.create_table(
        "user_token_balances",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("last_regeneration", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "tier IN ('FREE', 'BASIC', 'STANDARD', 'PREMIUM', 'STARTER', 'PRO', 'ENTERPRISE')",
            name=op.f("ck_user_token_balances_tier"),
        ),
        sa.CheckConstraint(
            "balance >= 0", name=op.f("ck_user_token_balances_balance_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_token_balances")),
        sa.UniqueConstraint("user_id", name=op.f("uq_user_token_balances_user_id")),
        schema="billing",
    )
    op.create_table(
        "vouchers",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("current_uses", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('ACTIVE', 'INACTIVE', 'EXPIRED', 'DEPLETED')",
            name=op.f("ck_vouchers_status"),
        ),
        sa.CheckConstraint(
            "type IN ('FIXED_TOKENS', 'PERCENTAGE_BONUS', 'SUBSCRIPTION_TRIAL')",
            name=op.f("ck_vouchers_type"),
        ),
        sa.CheckConstraint(
            "current_uses >= 0 AND (max_uses IS NULL OR current_uses <= max_uses)",
            name=op.f("ck_vouchers_uses_within_max"),
        ),
        sa.CheckConstraint(
            "max_uses IS NULL OR max_uses > 0", name=op.f("ck_vouchers_max_uses_positive")
        ),
        sa.CheckConstraint("value > 0", name=op.f("ck_vouchers_value_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vouchers")),
        sa.UniqueConstraint("code", name=op.f("uq_vouchers_code")),
        schema="billing",
    )
    op.create_table(
        "stripe_payments",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("package_id", sa.Text(), nullable=True),
        sa.Column("booking_id", sa.Text(), nullable=True),
        sa.Column("extension_id", sa.Text(), nullable=True),
        sa.Column("tokens_granted", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("stripe_payment_intent_id", sa.Text(), nullable=True),
        sa.Column("capture_method", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("failure_code", sa.String(), nullable=True),
        sa.Column("failure_message", sa.String(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("stripe_event_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "capture_method IN ('automatic', 'manual')",
            name=op.f("ck_stripe_payments_capture_method"),
        ),
        sa.CheckConstraint("currency ~ '^[a-z]{3}$'", name=op.f("ck_stripe_payments_currency")),
        sa.CheckConstraint(
            "status IN ('PENDING', 'AUTHORIZED', 'SUCCEEDED', 'FAILED', 'CANCELED', 'REFUNDED')",
            name=op.f("ck_stripe_payments_status"),
        ),
        sa.CheckConstraint(
            "(package_id IS NOT NULL)::int + (booking_id IS NOT NULL)::int + (extension_id IS NOT"
            " NULL)::int = 1",
            name=op.f("ck_stripe_payments_one_target"),
        ),
        sa.CheckConstraint("amount_cents >= 0", name=op.f("ck_stripe_payments_amount_cents")),
        sa.CheckConstraint("tokens_granted >= 0", name=op.f("ck_stripe_payments_tokens_granted")),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["billing.tokens_packages.id"],
            name=op.f("fk_stripe_payments_package_id_tokens_packages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_payments")),
        sa.UniqueConstraint("extension_id", name=op.f("uq_stripe_payments_extension_id")),
        sa.UniqueConstraint(
            "stripe_payment_intent_id", name=op.f("uq_stripe_payments_stripe_payment_intent_id")
        ),
        schema="billing",
    )
    op.create_index(
        op.f("ix_billing_stripe_payments_booking_id"),
        "stripe_payments",
        ["booking_id"],
        unique=False,
        schema="billing",
    )
    op.create_index(
        "ix_stripe_payments_user_time",
        "stripe_payments",
        ["user_id", "created_at"],
        unique=False,
        schema="billing",
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("plan_id", sa.Text(), nullable=False),
        sa.Column("stripe_subscription_id", sa.Text(), nullable=True),
        sa.Column("stripe_price_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("downgrade_to", sa.String(), nullable=True),
        sa.Column("tokens_per_month", sa.Integer(), nullable=False),
        sa.Column("rollover_tokens", sa.Integer(), nullable=False),
        sa.Column("max_rollover", sa.Integer(), nullable=False),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("stripe_event_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "downgrade_to IS NULL OR downgrade_to IN ('FREE', 'BASIC', 'STANDARD', 'PREMIUM',"
            " 'STARTER', 'PRO', 'ENTERPRISE')",
            name=op.f("ck_subscriptions_downgrade_to"),
        ),
        sa.CheckConstraint(
            "status IN ('ACTIVE', 'CANCELED', 'PAST_DUE', 'UNPAID', 'TRIALING')",
            name=op.f("ck_subscriptions_status"),
        ),
        sa.CheckConstraint(
            "tier IN ('FREE', 'BASIC', 'STANDARD', 'PREMIUM', 'STARTER', 'PRO', 'ENTERPRISE')",
            name=op.f("ck_subscriptions_tier"),
        ),
        sa.CheckConstraint(
            "current_period_end IS NULL OR current_period_start IS NULL OR current_period_end >="
            " current_period_start",
            name=op.f("ck_subscriptions_period"),
        ),
        sa.CheckConstraint("max_rollover >= 0", name=op.f("ck_subscriptions_max_rollover")),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_subscriptions_revision")),
        sa.CheckConstraint(
            "rollover_tokens <= max_rollover", name=op.f("ck_subscriptions_rollover_capped")
        ),
        sa.CheckConstraint("rollover_tokens >= 0", name=op.f("ck_subscriptions_rollover_tokens")),
        sa.CheckConstraint("tokens_per_month >= 0", name=op.f("ck_subscriptions_tokens_per_month")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["billing.customers.id"],
            name=op.f("fk_subscriptions_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["billing.subscription_plans.id"],
            name=op.f("fk_subscriptions_plan_id_subscription_plans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "stripe_subscription_id", name=op.f("uq_subscriptions_stripe_subscription_id")
        ),
        sa.UniqueConstraint("user_id", name=op.f("uq_subscriptions_user_id")),
        schema="billing",
    )
    op.create_index(
        op.f("ix_billing_subscriptions_current_period_end"),
        "subscriptions",
        ["current_period_end"],
        unique=False,
        schema="billing",
    )
    op.create_index(
        op.f("ix_billing_subscriptions_customer_id"),
        "subscriptions",
        ["customer_id"],
        unique=False,
        schema="billing",
    )
    op.create_table(
        "voucher_redemptions",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("voucher_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("tokens_granted", sa.Integer(), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "tokens_granted >= 0", name=op.f("ck_voucher_redemptions_tokens_granted")
        ),
        sa.ForeignKeyConstraint(
            ["voucher_id"],
            ["billing.vouchers.id"],
            name=op.f("fk_voucher_redemptions_voucher_id_vouchers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_redemptions")),
        sa.UniqueConstraint("voucher_id", "user_id", name="uq_voucher_redemptions_voucher_user"),
        schema="billing",
    )
    op.create_index(
        op.f("ix_billing_voucher_redemptions_user_id"),
        "voucher_redemptions",
        ["user_id"],
        unique=False,
        schema="billing",
    )

    _seed_plans()


# Seed 004's plans (FREE, BASIC, STANDARD, PREMIUM: priceGBP in pence) and seed 000's API
# plans (STARTER, PRO, ENTERPRISE), with stable ids that are also their Stripe plan ids.
# FREE is local only: it has no Stripe subscription.
_PLANS = [
    # id, name, tier, tokens/month, price, max rollover, priority, api access, daily generations
    ("plan_free", "Free", "FREE", 10, 0, 0, False, False, 5),
    ("plan_basic", "Basic", "BASIC", 20, 499, 20, False, False, 20),
    ("plan_standard", "Standard", "STANDARD", 50, 999, 50, True, False, 50),
    ("plan_premium", "Premium", "PREMIUM", 100, 1999, 100, True, True, 200),
    ("plan_starter", "API Starter", "STARTER", 0, 2900, 0, False, True, 5),
    ("plan_pro", "API Pro", "PRO", 0, 9900, 0, True, True, 5),
    ("plan_enterprise", "API Enterprise", "ENTERPRISE", 0, 49900, 0, True, True, 5),
]


def _seed_plans() -> None:
    plans = sa.table(
        "subscription_plans",
        *(
            sa.column(name)
            for name in (
                "id",
                "name",
                "tier",
                "tokens_per_month",
                "price_cents",
                "currency",
                "billing_interval",
                "stripe_price_id",
                "max_rollover",
                "priority",
                "api_access",
                "daily_generations",
                "active",
                "sort_order",
                "created_at",
                "updated_at",
            )
        ),
        schema="billing",
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        plans,
        [
            {
                "id": plan_id,
                "name": name,
                "tier": tier,
                "tokens_per_month": tokens,
                "price_cents": price,
                "currency": "gbp",
                "billing_interval": "month",
                "stripe_price_id": None if price == 0 else plan_id,
                "max_rollover": max_rollover,
                "priority": priority,
                "api_access": api_access,
                "daily_generations": daily,
                "active": True,
                "sort_order": order,
                "created_at": now,
                "updated_at": now,
            }
            for order, (
                plan_id,
                name,
                tier,
                tokens,
                price,
                max_rollover,
                priority,
                api_access,
                daily,
            ) in enumerate(_PLANS)
        ],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_billing_voucher_redemptions_user_id"),
        table_name="voucher_redemptions",
        schema="billing",
    )
    op.drop_table("voucher_redemptions", schema="billing")
    op.drop_index(
        op.f("ix_billing_subscriptions_customer_id"), table_name="subscriptions", schema="billing"
    )
    op.drop_index(
        op.f("ix_billing_subscriptions_current_period_end"),
        table_name="subscriptions",
        schema="billing",
    )
    op.drop_table("subscriptions", schema="billing")
    op.drop_index("ix_stripe_payments_user_time", table_name="stripe_payments", schema="billing")
    op.drop_index(
        op.f("ix_billing_stripe_payments_booking_id"),
        table_name="stripe_payments",
        schema="billing",
    )
    op.drop_table("stripe_payments", schema="billing")
    op.drop_table("vouchers", schema="billing")
    op.drop_table("user_token_balances", schema="billing")
    op.drop_table("tokens_packages", schema="billing")
    op.drop_index(
        "uq_token_transactions_cause",
        table_name="token_transactions",
        schema="billing",
        postgresql_where=sa.text("source_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_token_transactions_user_time", table_name="token_transactions", schema="billing"
    )
    op.drop_table("token_transactions", schema="billing")
    op.drop_index(
        "ix_token_reservations_held_expiry",
        table_name="token_reservations",
        schema="billing",
        postgresql_where=sa.text("status = 'HELD'"),
    )
    op.drop_index(
        op.f("ix_billing_token_reservations_user_id"),
        table_name="token_reservations",
        schema="billing",
    )
    op.drop_table("token_reservations", schema="billing")
    op.drop_table("subscription_plans", schema="billing")
    op.drop_table("stripe_idempotency_keys", schema="billing")
    op.drop_index(
        "ix_stripe_events_unprocessed",
        table_name="stripe_events",
        schema="billing",
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.drop_index(
        op.f("ix_billing_stripe_events_object_id"), table_name="stripe_events", schema="billing"
    )
    op.drop_table("stripe_events", schema="billing")
    op.drop_index(
        "uq_payment_methods_one_default",
        table_name="payment_methods",
        schema="billing",
        postgresql_where=sa.text("is_default"),
    )
    op.drop_index("ix_payment_methods_user_time", table_name="payment_methods", schema="billing")
    op.drop_table("payment_methods", schema="billing")
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys", schema="billing")
    op.drop_table("idempotency_keys", schema="billing")
    op.drop_table("daily_quotas", schema="billing")
    op.drop_table("customers", schema="billing")
