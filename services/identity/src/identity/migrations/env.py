from identity.config import IdentitySettings
from identity.models import metadata
from lib_database.migrations import run_migrations

run_migrations(IdentitySettings, metadata)
