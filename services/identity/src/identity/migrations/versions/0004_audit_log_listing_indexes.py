"""Indexes of the admins' audit-log listing: newest first, whole or by action.

The action+time index replaces the single-column action index it starts with.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 02:05:04.566095
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_logs_action_time",
        "audit_logs",
        ["action", "created_at"],
        unique=False,
        schema="identity",
    )
    op.create_index(
        "ix_audit_logs_time", "audit_logs", ["created_at"], unique=False, schema="identity"
    )
    op.drop_index(op.f("ix_identity_audit_logs_action"), table_name="audit_logs", schema="identity")


def downgrade() -> None:
    op.drop_index("ix_audit_logs_time", table_name="audit_logs", schema="identity")
    op.drop_index("ix_audit_logs_action_time", table_name="audit_logs", schema="identity")
    op.create_index(
        op.f("ix_identity_audit_logs_action"),
        "audit_logs",
        ["action"],
        unique=False,
        schema="identity",
    )
