"""Tables of the billing service, all in its own `billing` schema (outbox and inbox included)."""

from lib_database import service_model_base

BillingModel = service_model_base("billing")
metadata = BillingModel.metadata
