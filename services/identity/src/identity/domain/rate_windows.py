"""Pruning the API keys' rate-limit counters once their windows are long over."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from lib_database import UnitOfWork

# Day windows are the longest: a day's counter is of no use two days after it started.
RETENTION = timedelta(days=2)
PRUNE_BATCH = 5_000

# ctid batches: each statement deletes at most PRUNE_BATCH rows, so no transaction runs long.
_PRUNE = text(
    """
    DELETE FROM api_key_rate_windows WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM api_key_rate_windows WHERE window_start < :before LIMIT :batch
    ))
    """
)


async def prune_rate_windows(
    uow_factory: Callable[[], UnitOfWork], *, now: datetime | None = None
) -> int:
    """Delete counters whose window started more than RETENTION ago; how many."""
    before = (now or datetime.now(UTC)) - RETENTION
    deleted = 0
    while True:
        async with uow_factory() as uow:
            result = await uow.connection.execute(_PRUNE, {"before": before, "batch": PRUNE_BATCH})
            await uow.commit()
        deleted += result.rowcount
        if result.rowcount < PRUNE_BATCH:
            return deleted
