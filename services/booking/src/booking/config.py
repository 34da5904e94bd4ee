"""Settings of the booking service: every variable is read with the `BOOKING_` prefix."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from lib_settings import ServiceSettings


class BookingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKING_")

    service_name: ClassVar[str] = "booking"
    http_port_default: ClassVar[int] = 8004
