"""Tables of the market_data service, in its own `market_data` schema (outbox and inbox too)."""

from lib_database import service_model_base

MarketDataModel = service_model_base("market_data")
metadata = MarketDataModel.metadata
