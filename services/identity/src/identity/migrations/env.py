from lib_database.migrations import run_migrations

from identity.config import IdentitySettings
from identity.models import metadata

run_migrations(IdentitySettings, metadata)
