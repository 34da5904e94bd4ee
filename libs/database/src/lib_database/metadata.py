"""SQLModel bases bound to one service's schema, with the outbox and inbox tables in it."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import registry

from lib_messaging.tables import define_messaging_tables

# Constraint names that Alembic can diff and that read well in errors.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_registry(schema: str) -> registry:
    """The mapper registry of one service: its tables live in `schema`, with the outbox and inbox.

    A service declares its SQLModel base as
    `class IdentityModel(SQLModel, registry=service_registry("identity")): ...`.
    """
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    define_messaging_tables(metadata)
    return registry(metadata=metadata)
