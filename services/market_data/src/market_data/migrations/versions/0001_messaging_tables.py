"""The outbox and inbox of the market_data service.

Revision ID: 0001
Revises:
"""

from alembic import op

from lib_messaging.tables import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables(op.get_bind(), "market_data")


def downgrade() -> None:
    drop_messaging_tables(op.get_bind(), "market_data")
