"""Settings of the billing service: every variable is read with the `BILLING_` prefix."""

from typing import ClassVar

from lib_settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_")

    service_name: ClassVar[str] = "billing"
    http_port_default: ClassVar[int] = 8002
