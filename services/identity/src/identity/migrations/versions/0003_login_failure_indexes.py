"""Indexes of the login throttle: recent LOGIN_FAILED audit rows per attempted email and per IP.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:00:27.392381
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_logs_login_failed_email_time",
        "audit_logs",
        [sa.literal_column("(metadata ->> 'email')"), "created_at"],
        unique=False,
        schema="identity",
        postgresql_where=sa.text("action = 'LOGIN_FAILED'"),
    )
    op.create_index(
        "ix_audit_logs_login_failed_ip_time",
        "audit_logs",
        ["ip_address", "created_at"],
        unique=False,
        schema="identity",
        postgresql_where=sa.text("action = 'LOGIN_FAILED'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_audit_logs_login_failed_ip_time",
        table_name="audit_logs",
        schema="identity",
        postgresql_where=sa.text("action = 'LOGIN_FAILED'"),
    )
    op.drop_index(
        "ix_audit_logs_login_failed_email_time",
        table_name="audit_logs",
        schema="identity",
        postgresql_where=sa.text("action = 'LOGIN_FAILED'"),
    )
