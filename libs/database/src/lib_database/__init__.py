"""Database access shared by every service: engine, schema-bound metadata, unit of work."""

from lib_database.engine import Database, driver_of
from lib_database.metadata import service_registry
from lib_database.unit_of_work import UnitOfWork

__all__ = ["Database", "UnitOfWork", "driver_of", "service_registry"]
