"""Verification tokens: when each was mailed (the resend limits count them) and an index on
their expiry (the cleanup job deletes expired ones).

Revision ID: 0006_email_and_referrals
Revises: 0005_api_keys_and_usage
Create Date: 2026-11-22 02:30:49.423264
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_email_and_referrals"
down_revision = "0005_api_keys_and_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows already there get the migration's time; new rows always set it themselves.
    op.add_column(
        "verification_tokens",
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="identity",
    )
    op.alter_column("verification_tokens", "created_at", server_default=None, schema="identity")
    op.create_index(
        op.f("ix_identity_verification_tokens_expires"),
        "verification_tokens",
        ["expires"],
        unique=False,
        schema="identity",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_identity_verification_tokens_expires"),
        table_name="verification_tokens",
        schema="identity",
    )
    op.drop_column("verification_tokens", "created_at", schema="identity")
