"""Tables of the content service, all in its own `content` schema (outbox and inbox included)."""

from sqlmodel import SQLModel

from lib_database import service_registry


class ContentModel(SQLModel, registry=service_registry("content")):
    """Base of every table of the content service."""


metadata = ContentModel.metadata
