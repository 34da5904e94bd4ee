from content.config import ContentSettings
from content.models import metadata
from lib_database.migrations import run_migrations

run_migrations(ContentSettings, metadata)
