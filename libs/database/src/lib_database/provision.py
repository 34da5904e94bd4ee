"""Creates a database and applies the roles-and-schemas SQL of deploy/postgres to it.

`python -m lib_database.provision --admin-url URL --database NAME FILE.sql`: idempotent, so
`make dev` runs it every time. Tests use the same function on their own fresh database.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import asyncpg


async def create_database(admin_url: str, database: str) -> bool:
    """Create `database` if missing; True if it was created."""
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if exists:
            return False
        await conn.execute(f'CREATE DATABASE "{database}"')
        return True
    finally:
        await conn.close()


async def drop_database(admin_url: str, database: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


def database_url(admin_url: str, database: str) -> str:
    """The admin URL pointed at another database on the same server."""
    base, _, query = admin_url.partition("?")
    root = base.rsplit("/", 1)[0]
    return f"{root}/{database}" + (f"?{query}" if query else "")


async def provision(admin_url: str, database: str, sql_file: Path) -> None:
    sql = await asyncio.to_thread(sql_file.read_text)
    await create_database(admin_url, database)
    conn = await asyncpg.connect(database_url(admin_url, database))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--admin-url",
        required=True,
        help="superuser URL, e.g. postgresql://postgres@127.0.0.1:5432/postgres",
    )
    parser.add_argument("--database", required=True)
    parser.add_argument("sql_file", type=Path)
    args = parser.parse_args()
    asyncio.run(provision(args.admin_url, args.database, args.sql_file))
    print(f"provisioned database {args.database!r} with {args.sql_file}")


if __name__ == "__main__":
    main()
