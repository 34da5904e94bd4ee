"""Tables of the market_data service, in its own `market_data` schema (outbox and inbox too)."""

from sqlmodel import SQLModel

from lib_database import service_registry


class MarketDataModel(SQLModel, registry=service_registry("market_data")):
    """Base of every table of the market_data service."""


metadata = MarketDataModel.metadata
