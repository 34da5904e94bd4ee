"""SQLModel bases bound to one service's schema, with the outbox and inbox tables in it."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from lib_messaging.tables import define_messaging_tables

# Constraint names that Alembic can diff and that read well in errors.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_model_base(schema: str) -> type[SQLModel]:
    """A SQLModel base whose tables live in `schema`, with the messaging tables included."""
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    define_messaging_tables(metadata)
    base: type[SQLModel] = type(
        f"{schema.title().replace('_', '')}Model",
        (SQLModel,),
        {"__module__": __name__},
        registry=registry(metadata=metadata),
    )
    return base
