from lib_database.migrations import run_migrations

from billing.config import BillingSettings
from billing.models import metadata

run_migrations(BillingSettings, metadata)
