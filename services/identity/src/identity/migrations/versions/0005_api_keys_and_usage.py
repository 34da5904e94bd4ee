"""API keys and trials: the Idempotency-Key of the request that made a key or a workspace,
rate-limit windows shared by every replica, and the projection of billing's subscriptions
that sets the keys' tier.

Revision ID: 0005_api_keys_and_usage
Revises: 0004
Create Date: 2026-11-22 02:31:01.876598
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_api_keys_and_usage"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_key_rate_windows",
        sa.Column("api_key_id", sa.String(), nullable=False),
        sa.Column("window_kind", sa.String(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "api_key_id", "window_kind", "window_start", name=op.f("pk_api_key_rate_windows")
        ),
        schema="identity",
    )
    op.create_index(
        "ix_api_key_rate_windows_start",
        "api_key_rate_windows",
        ["window_start"],
        unique=False,
        schema="identity",
    )
    op.create_table(
        "plan_subscriptions",
        sa.Column("subscription_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("api_access", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity.users.id"],
            name=op.f("fk_plan_subscriptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_plan_subscriptions")),
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_plan_subscriptions_user_id"),
        "plan_subscriptions",
        ["user_id"],
        unique=False,
        schema="identity",
    )
    op.add_column(
        "api_keys", sa.Column("idempotency_key", sa.String(), nullable=True), schema="identity"
    )
    op.add_column(
        "api_keys", sa.Column("request_fingerprint", sa.String(), nullable=True), schema="identity"
    )
    op.create_unique_constraint(
        op.f("uq_api_keys_user_id"), "api_keys", ["user_id", "idempotency_key"], schema="identity"
    )
    op.add_column(
        "trial_workspaces",
        sa.Column("idempotency_key", sa.String(), nullable=True),
        schema="identity",
    )
    op.add_column(
        "trial_workspaces",
        sa.Column("request_fingerprint", sa.String(), nullable=True),
        schema="identity",
    )
    op.create_unique_constraint(
        op.f("uq_trial_workspaces_owner_id"),
        "trial_workspaces",
        ["owner_id", "idempotency_key"],
        schema="identity",
    )
    op.add_column(
        "trial_api_keys",
        sa.Column("idempotency_key", sa.String(), nullable=True),
        schema="identity",
    )
    op.add_column(
        "trial_api_keys",
        sa.Column("request_fingerprint", sa.String(), nullable=True),
        schema="identity",
    )
    op.create_unique_constraint(
        op.f("uq_trial_api_keys_workspace_id"),
        "trial_api_keys",
        ["workspace_id", "idempotency_key"],
        schema="identity",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("uq_trial_workspaces_owner_id"),
        "trial_workspaces",
        schema="identity",
        type_="unique",
    )
    op.drop_column("trial_workspaces", "request_fingerprint", schema="identity")
    op.drop_column("trial_workspaces", "idempotency_key", schema="identity")
    op.drop_constraint(
        op.f("uq_trial_api_keys_workspace_id"), "trial_api_keys", schema="identity", type_="unique"
    )
    op.drop_column("trial_api_keys", "request_fingerprint", schema="identity")
    op.drop_column("trial_api_keys", "idempotency_key", schema="identity")
    op.drop_constraint(op.f("uq_api_keys_user_id"), "api_keys", schema="identity", type_="unique")
    op.drop_column("api_keys", "request_fingerprint", schema="identity")
    op.drop_column("api_keys", "idempotency_key", schema="identity")
    op.drop_index(
        op.f("ix_identity_plan_subscriptions_user_id"),
        table_name="plan_subscriptions",
        schema="identity",
    )
    op.drop_table("plan_subscriptions", schema="identity")
    op.drop_index(
        "ix_api_key_rate_windows_start", table_name="api_key_rate_windows", schema="identity"
    )
    op.drop_table("api_key_rate_windows", schema="identity")
