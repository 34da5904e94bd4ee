"""Tables of the market_data service, all in its own `market_data` schema (outbox and inbox included)."""

from lib_database import service_model_base

MarketDataModel = service_model_base("market_data")
metadata = MarketDataModel.metadata
