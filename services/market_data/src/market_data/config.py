"""Settings of the market_data service: every variable is read with the `MARKET_DATA_` prefix."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from lib_settings import ServiceSettings


class MarketDataSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MARKET_DATA_")

    service_name: ClassVar[str] = "market_data"
    http_port_default: ClassVar[int] = 8003
