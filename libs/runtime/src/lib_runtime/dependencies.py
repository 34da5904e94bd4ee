"""FastAPI dependencies that routes of every service share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from lib_database import Database, UnitOfWork


# `async def` though they await nothing: FastAPI runs a plain `def` dependency in its thread
# pool, a hop per request that costs more than the work.
async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_unit_of_work(
    request: Request, database: Annotated[Database, Depends(get_database)]
) -> UnitOfWork:
    settings = request.app.state.settings
    return UnitOfWork(database, source=settings.service_name, schema=settings.db_schema)


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]
DatabaseDep = Annotated[Database, Depends(get_database)]
