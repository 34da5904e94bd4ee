"""Tables of the content service, all in its own `content` schema (outbox and inbox included)."""

from lib_database import service_model_base

ContentModel = service_model_base("content")
metadata = ContentModel.metadata
