"""Token economy: held (reserved) tokens and the plan's tokens left this period on the balance,
the EXPIRE_ROLLOVER ledger type, the admins' newest-first voucher list, and the token packages
on sale (seeded with stable ids).

Revision ID: 0004_token_economy
Revises: 0003_customer_tombstones
Create Date: 2026-11-22 02:39:55.408822
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004_token_economy"
down_revision = "0003_customer_tombstones"
branch_labels = None
depends_on = None

_TYPES = (
    "'EARN_REGENERATION', 'EARN_PURCHASE', 'EARN_VOUCHER', 'EARN_REFERRAL', "
    "'EARN_SUBSCRIPTION', 'SPEND', 'REFUND', 'ADMIN_ADJUSTMENT'"
)


def upgrade() -> None:
    op.add_column(
        "user_token_balances",
        sa.Column("reserved", sa.Integer(), server_default="0", nullable=False),
        schema="billing",
    )
    op.add_column(
        "user_token_balances",
        sa.Column("plan_tokens", sa.Integer(), server_default="0", nullable=False),
        schema="billing",
    )
    op.create_check_constraint(
        op.f("ck_user_token_balances_reserved_within_balance"),
        "user_token_balances",
        "reserved >= 0 AND reserved <= balance",
        schema="billing",
    )
    op.create_check_constraint(
        op.f("ck_user_token_balances_plan_tokens_not_negative"),
        "user_token_balances",
        "plan_tokens >= 0",
        schema="billing",
    )
    _replace_type_checks(
        f"type IN ({_TYPES}, 'EXPIRE_ROLLOVER')",
        "(type IN ('SPEND', 'EXPIRE_ROLLOVER') AND amount < 0)"
        " OR (type LIKE 'EARN\\_%' AND amount > 0)"
        " OR (type = 'REFUND' AND amount > 0) OR type = 'ADMIN_ADJUSTMENT'",
    )
    op.create_index(
        "ix_vouchers_time", "vouchers", ["created_at", "id"], unique=False, schema="billing"
    )
    _seed_packages()


# Seed 004's TokensPackage (priceUSD in cents), with stable ids; bought with a PaymentIntent.
_PACKAGES = [
    # id, name, tokens, price in cents
    ("pkg_starter", "Starter", 50, 499),
    ("pkg_creator", "Creator", 150, 1299),
    ("pkg_studio", "Studio", 500, 3999),
]


def _seed_packages() -> None:
    packages = sa.table(
        "tokens_packages",
        *(
            sa.column(name)
            for name in (
                "id",
                "name",
                "tokens",
                "price_cents",
                "currency",
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
        packages,
        [
            {
                "id": package_id,
                "name": name,
                "tokens": tokens,
                "price_cents": price,
                "currency": "usd",
                "active": True,
                "sort_order": order,
                "created_at": now,
                "updated_at": now,
            }
            for order, (package_id, name, tokens, price) in enumerate(_PACKAGES)
        ],
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM billing.tokens_packages WHERE id IN ('pkg_starter', 'pkg_creator', "
        "'pkg_studio') AND NOT EXISTS (SELECT 1 FROM billing.stripe_payments p "
        "WHERE p.package_id = tokens_packages.id)"
    )
    op.drop_index("ix_vouchers_time", table_name="vouchers", schema="billing")
    op.execute("DELETE FROM billing.token_transactions WHERE type = 'EXPIRE_ROLLOVER'")
    _replace_type_checks(
        f"type IN ({_TYPES})",
        "(type = 'SPEND' AND amount < 0) OR (type LIKE 'EARN\\_%' AND amount > 0)"
        " OR (type = 'REFUND' AND amount > 0) OR type = 'ADMIN_ADJUSTMENT'",
    )
    op.drop_constraint(
        op.f("ck_user_token_balances_plan_tokens_not_negative"),
        "user_token_balances",
        schema="billing",
    )
    op.drop_constraint(
        op.f("ck_user_token_balances_reserved_within_balance"),
        "user_token_balances",
        schema="billing",
    )
    op.drop_column("user_token_balances", "plan_tokens", schema="billing")
    op.drop_column("user_token_balances", "reserved", schema="billing")


def _replace_type_checks(type_check: str, sign_check: str) -> None:
    for name, condition in (("type", type_check), ("amount_sign", sign_check)):
        constraint = op.f(f"ck_token_transactions_{name}")
        op.drop_constraint(constraint, "token_transactions", schema="billing")
        op.create_check_constraint(constraint, "token_transactions", condition, schema="billing")
