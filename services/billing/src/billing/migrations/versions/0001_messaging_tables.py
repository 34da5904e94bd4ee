"""The outbox and inbox of the billing service (in its own schema)."""

from lib_database.migrations import downgrade_messaging_tables as downgrade
from lib_database.migrations import upgrade_messaging_tables as upgrade

revision = "0001"
down_revision = None
__all__ = ["downgrade", "upgrade"]
