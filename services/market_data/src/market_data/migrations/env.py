from lib_database.migrations import run_migrations
from market_data.config import MarketDataSettings
from market_data.models import metadata

run_migrations(MarketDataSettings, metadata)
