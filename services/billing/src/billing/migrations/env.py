from billing.config import BillingSettings
from billing.models import metadata
from lib_database.migrations import run_migrations

run_migrations(BillingSettings, metadata)
