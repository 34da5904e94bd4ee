"""The outbox and inbox tables, created in each service's own schema.

`outbox`: events written in the same transaction as the state change, published later by the
relay. `inbox`: one row per (consumer, event id) handled, inserted in the handler's transaction
so a redelivered event is applied once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class MessagingTables:
    outbox: Table
    inbox: Table


def define_messaging_tables(metadata: MetaData) -> MessagingTables:
    """Add the outbox and inbox tables to a service's metadata (its schema is the metadata's)."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", Uuid, primary_key=True),  # the event id
        Column("position", BigInteger, Identity(always=True), nullable=False),
        Column("event_type", Text, nullable=False),
        Column("event_version", Integer, nullable=False),
        Column("routing_key", Text, nullable=False),
        Column("subject", Text, nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column(
            "next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()
        ),
        Column("last_error", Text, nullable=True),
        # The relay's claim query walks only unpublished rows, in commit order.
        Index("ix_outbox_unpublished", "position", postgresql_where=text("published_at IS NULL")),
        # Pruning walks only published rows, oldest first.
        Index(
            "ix_outbox_published_at",
            "published_at",
            postgresql_where=text("published_at IS NOT NULL"),
        ),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", Text, primary_key=True),
        Column("event_id", Uuid, primary_key=True),
        Column("event_type", Text, nullable=False),
        Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return MessagingTables(outbox=outbox, inbox=inbox)


@cache
def messaging_tables(schema: str) -> MessagingTables:
    """The tables of one schema, for the relay and the unit of work."""
    return define_messaging_tables(MetaData(schema=schema))


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel that wakes the relay of one schema."""
    return f"outbox_{schema}"


def create_messaging_tables(connection: Connection, schema: str) -> None:
    """Create both tables and the trigger that wakes the relay; for a first migration."""
    tables = messaging_tables(schema)
    tables.outbox.create(connection)
    tables.inbox.create(connection)
    channel = notify_channel(schema)
    # One NOTIFY per inserting statement, not per row: a batch insert wakes the relay once.
    connection.exec_driver_sql(
        f"""
        CREATE FUNCTION "{schema}".notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{channel}', '');
            RETURN NULL;
        END $$
        """
    )
    connection.exec_driver_sql(
        f'CREATE TRIGGER outbox_notify AFTER INSERT ON "{schema}".outbox '
        f'FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".notify_outbox()'
    )


def drop_messaging_tables(connection: Connection, schema: str) -> None:
    """Undo `create_messaging_tables`."""
    connection.exec_driver_sql(f'DROP FUNCTION IF EXISTS "{schema}".notify_outbox() CASCADE')
    tables = messaging_tables(schema)
    tables.inbox.drop(connection, checkfirst=True)
    tables.outbox.drop(connection, checkfirst=True)
