"""Identity tables: users, accounts, sessions, tokens, API keys, usage, trials, referrals, audit.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:51:56.153395
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "users",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("email_verified", sa.DateTime(timezone=True), nullable=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("image", sa.String(), nullable=True),
        sa.Column("company", sa.String(), nullable=True),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=True),
        sa.Column("referral_code", sa.Text(), nullable=False),
        sa.Column("referred_by_id", sa.Text(), nullable=True),
        sa.Column("referral_count", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('USER', 'ADMIN', 'SUPER_ADMIN')", name=op.f("ck_users_role")),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_lowercase")),
        sa.ForeignKeyConstraint(
            ["referred_by_id"],
            ["identity.users.id"],
            name=op.f("fk_users_referred_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("referral_code", name=op.f("uq_users_referral_code")),
        schema="identity",
    )
    op.create_table(
        "verification_tokens",
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("identifier", sa.String(), nullable=False),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_verification_tokens")),
        sa.UniqueConstraint("identifier", "token", name=op.f("uq_verification_tokens_identifier")),
        schema="identity",
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("provider_account_id", sa.String(), nullable=False),
        sa.Column("refresh_token", sa.LargeBinary(), nullable=True),
        sa.Column("access_token", sa.LargeBinary(), nullable=True),
        sa.Column("id_token", sa.LargeBinary(), nullable=True),
        sa.Column("token_key_id", sa.String(), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("token_type", sa.String(), nullable=True),
        sa.Column("scope", sa.String(), nullable=True),
        sa.Column("session_state", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity.users.id"],
            name=op.f("fk_accounts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("provider", "provider_account_id", name=op.f("uq_accounts_provider")),
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_accounts_user_id"),
        "accounts",
        ["user_id"],
        unique=False,
        schema="identity",
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("key_prefix", sa.String(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("scopes", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending_verification', 'active', 'revoked')",
            name=op.f("ck_api_keys_status"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity.users.id"],
            name=op.f("fk_api_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_api_keys_key_prefix"),
        "api_keys",
        ["key_prefix"],
        unique=False,
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_api_keys_user_id"),
        "api_keys",
        ["user_id"],
        unique=False,
        schema="identity",
    )
    op.create_table(
        "audit_logs",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("target_id", sa.String(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("ip_address", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity.users.id"],
            name=op.f("fk_audit_logs_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
        schema="identity",
    )
    op.create_index(
        "ix_audit_logs_user_time",
        "audit_logs",
        ["user_id", "created_at"],
        unique=False,
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_audit_logs_action"),
        "audit_logs",
        ["action"],
        unique=False,
        schema="identity",
    )
    op.create_table(
        "referrals",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("referrer_id", sa.Text(), nullable=False),
        sa.Column("referee_id", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("tokens_granted", sa.Integer(), nullable=False),
        sa.Column("ip_address", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["referee_id"],
            ["identity.users.id"],
            name=op.f("fk_referrals_referee_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            ["identity.users.id"],
            name=op.f("fk_referrals_referrer_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("referee_id", name=op.f("uq_referrals_referee_id")),
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_referrals_referrer_id"),
        "referrals",
        ["referrer_id"],
        unique=False,
        schema="identity",
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("session_token", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip_address", sa.String(), nullable=True),
        sa.Column("user_agent", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity.users.id"],
            name=op.f("fk_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("session_token", name=op.f("uq_sessions_session_token")),
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_sessions_user_id"),
        "sessions",
        ["user_id"],
        unique=False,
        schema="identity",
    )
    op.create_table(
        "trial_workspaces",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_id", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'expired', 'converted', 'cancelled')",
            name=op.f("ck_trial_workspaces_status"),
        ),
        sa.CheckConstraint(
            "tier IN ('standard', 'enterprise')", name=op.f("ck_trial_workspaces_tier")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["identity.users.id"],
            name=op.f("fk_trial_workspaces_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trial_workspaces")),
        sa.UniqueConstraint("slug", name=op.f("uq_trial_workspaces_slug")),
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_trial_workspaces_expires_at"),
        "trial_workspaces",
        ["expires_at"],
        unique=False,
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_trial_workspaces_owner_id"),
        "trial_workspaces",
        ["owner_id"],
        unique=False,
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_trial_workspaces_status"),
        "trial_workspaces",
        ["status"],
        unique=False,
        schema="identity",
    )
    op.create_table(
        "api_calls",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("api_key_id", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.String(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("request_body", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("response_body", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["identity.api_keys.id"],
            name=op.f("fk_api_calls_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_calls")),
        schema="identity",
    )
    op.create_index(
        "ix_api_calls_key_time",
        "api_calls",
        ["api_key_id", "created_at"],
        unique=False,
        schema="identity",
    )
    op.create_table(
        "session_token_history",
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("session_id", sa.Text(), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["identity.sessions.id"],
            name=op.f("fk_session_token_history_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_session_token_history")),
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_session_token_history_session_id"),
        "session_token_history",
        ["session_id"],
        unique=False,
        schema="identity",
    )
    op.create_table(
        "trial_api_keys",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("workspace_id", sa.Text(), nullable=False),
        sa.Column("key_prefix", sa.String(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("label", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["identity.trial_workspaces.id"],
            name=op.f("fk_trial_api_keys_workspace_id_trial_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trial_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_trial_api_keys_key_hash")),
        schema="identity",
    )
    op.create_index(
        op.f("ix_identity_trial_api_keys_workspace_id"),
        "trial_api_keys",
        ["workspace_id"],
        unique=False,
        schema="identity",
    )


def downgrade() -> None:

    op.drop_index(
        op.f("ix_identity_trial_api_keys_workspace_id"),
        table_name="trial_api_keys",
        schema="identity",
    )
    op.drop_table("trial_api_keys", schema="identity")
    op.drop_index(
        op.f("ix_identity_session_token_history_session_id"),
        table_name="session_token_history",
        schema="identity",
    )
    op.drop_table("session_token_history", schema="identity")
    op.drop_index("ix_api_calls_key_time", table_name="api_calls", schema="identity")
    op.drop_table("api_calls", schema="identity")
    op.drop_index(
        op.f("ix_identity_trial_workspaces_status"),
        table_name="trial_workspaces",
        schema="identity",
    )
    op.drop_index(
        op.f("ix_identity_trial_workspaces_owner_id"),
        table_name="trial_workspaces",
        schema="identity",
    )
    op.drop_index(
        op.f("ix_identity_trial_workspaces_expires_at"),
        table_name="trial_workspaces",
        schema="identity",
    )
    op.drop_table("trial_workspaces", schema="identity")
    op.drop_index(op.f("ix_identity_sessions_user_id"), table_name="sessions", schema="identity")
    op.drop_table("sessions", schema="identity")
    op.drop_index(
        op.f("ix_identity_referrals_referrer_id"), table_name="referrals", schema="identity"
    )
    op.drop_table("referrals", schema="identity")
    op.drop_index(op.f("ix_identity_audit_logs_action"), table_name="audit_logs", schema="identity")
    op.drop_index("ix_audit_logs_user_time", table_name="audit_logs", schema="identity")
    op.drop_table("audit_logs", schema="identity")
    op.drop_index(op.f("ix_identity_api_keys_user_id"), table_name="api_keys", schema="identity")
    op.drop_index(op.f("ix_identity_api_keys_key_prefix"), table_name="api_keys", schema="identity")
    op.drop_table("api_keys", schema="identity")
    op.drop_index(op.f("ix_identity_accounts_user_id"), table_name="accounts", schema="identity")
    op.drop_table("accounts", schema="identity")
    op.drop_table("verification_tokens", schema="identity")
    op.drop_table("users", schema="identity")
