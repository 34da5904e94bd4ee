"""Tables of the booking service, all in its own `booking` schema (outbox and inbox included)."""

from lib_database import service_model_base

BookingModel = service_model_base("booking")
metadata = BookingModel.metadata
