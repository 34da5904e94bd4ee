"""Token economy: held (reserved) tokens and the plan's tokens left this period on the balance,
the EXPIRE_ROLLOVER ledger type, and the admins' newest-first voucher list.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:39:55.408822
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
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


def downgrade() -> None:
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
