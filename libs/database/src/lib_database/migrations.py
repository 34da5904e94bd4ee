"""The body of every service's Alembic `env.py`: online, async, in the service's own schema.

The URL comes from the service's settings (so `make migrate` needs no extra configuration), or
from `config.attributes["database_url"]` when a test migrates its own database.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from lib_settings import ServiceSettings


def run_migrations(settings_class: type[ServiceSettings], metadata: MetaData) -> None:
    config = context.config
    url = config.attributes.get("database_url")
    schema = settings_class.service_name
    if url is None:
        url = settings_class().database_url.get_secret_value()
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, schema, metadata))


async def _run_online(url: str, schema: str, metadata: MetaData) -> None:
    # With the service's own schema off the search path, reflection names it on every table and
    # foreign key, as the metadata does, so autogenerate compares like with like.
    engine = create_async_engine(url, connect_args={"server_settings": {"search_path": "public"}})
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_migrate, schema, metadata)
            await conn.commit()
    finally:
        await engine.dispose()


def _migrate(connection: Connection, schema: str, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, parent: _ours(schema, name, type_),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _ours(schema: str, name: str | None, type_: str) -> bool:
    """Autogenerate looks at this service's schema only, and never at Alembic's own table."""
    if type_ == "schema":
        return name == schema
    return not (type_ == "table" and name == "alembic_version")


def upgrade(alembic_ini: str, database_url: str, revision: str = "head") -> None:
    """Programmatic `alembic upgrade`, for tests and tools."""
    from alembic import command
    from alembic.config import Config

    config = Config(alembic_ini)
    config.attributes["database_url"] = database_url
    command.upgrade(config, revision)


def upgrade_messaging_tables() -> None:
    """Every service's first revision: its outbox and inbox, in the schema being migrated."""
    from lib_messaging.tables import create_messaging_tables

    create_messaging_tables(context.get_bind(), _migrating_schema())


def downgrade_messaging_tables() -> None:
    from lib_messaging.tables import drop_messaging_tables

    drop_messaging_tables(context.get_bind(), _migrating_schema())


def _migrating_schema() -> str:
    schema = context.get_context().version_table_schema
    if not schema:
        raise RuntimeError("migrations must run through run_migrations (it sets the schema)")
    return str(schema)


def check(alembic_ini: str, database_url: str) -> None:
    """Programmatic `alembic check`: raises if the models differ from the migrated schema."""
    from alembic import command
    from alembic.config import Config

    config = Config(alembic_ini)
    config.attributes["database_url"] = database_url
    command.check(config)
