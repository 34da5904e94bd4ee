"""Tables of the billing service, all in its own `billing` schema (outbox and inbox included)."""

from sqlmodel import SQLModel

from lib_database import service_registry


class BillingModel(SQLModel, registry=service_registry("billing")):
    """Base of every table of the billing service."""


metadata = BillingModel.metadata
