from lib_database.migrations import run_migrations

from content.config import ContentSettings
from content.models import metadata

run_migrations(ContentSettings, metadata)
