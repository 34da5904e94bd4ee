from booking.config import BookingSettings
from booking.models import metadata
from lib_database.migrations import run_migrations

run_migrations(BookingSettings, metadata)
