from lib_database.migrations import run_migrations

from booking.config import BookingSettings
from booking.models import metadata

run_migrations(BookingSettings, metadata)
