"""Tables of the booking service, all in its own `booking` schema (outbox and inbox included)."""

from sqlmodel import SQLModel

from lib_database import service_registry


class BookingModel(SQLModel, registry=service_registry("booking")):
    """Base of every table of the booking service."""


metadata = BookingModel.metadata
