"""Room on each page of the balance and daily-quota tables, so the updates every reservation
and commit make to their rows stay heap-only (HOT): a new row version on the same page, with
no new index entries. With full pages (the default fillfactor of 100) each update writes into
every index of the table. A storage setting only: Alembic does not compare it with the models.

Revision ID: 0005_hot_balance_updates
Revises: 0004_token_economy
Create Date: 2026-11-22 05:40:00
"""

from alembic import op

revision = "0005_hot_balance_updates"
down_revision = "0004_token_economy"
branch_labels = None
depends_on = None

_TABLES = ("user_token_balances", "daily_quotas")


def upgrade() -> None:
    for table in _TABLES:
        op.execute(f"ALTER TABLE billing.{table} SET (fillfactor = 70)")


def downgrade() -> None:
    for table in _TABLES:
        op.execute(f"ALTER TABLE billing.{table} RESET (fillfactor)")
