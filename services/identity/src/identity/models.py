"""Tables of the identity service, all in its own `identity` schema (outbox and inbox included)."""

from lib_database import service_model_base

IdentityModel = service_model_base("identity")
metadata = IdentityModel.metadata
