"""Customer tombstones: `customers.deleted_at` marks a user identity deleted.

Revision ID: 0003_customer_tombstones
Revises: 0002
Create Date: 2026-11-22 02:43:42.633638
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_customer_tombstones"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "customers",
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        schema="billing",
    )


def downgrade() -> None:
    op.drop_column("customers", "deleted_at", schema="billing")
