"""The identity worker's jobs: pruning rate-limit counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from identity.domain.rate_windows import prune_rate_windows
from identity.jobs import JOBS
from lib_runtime.worker_cli import uow_factory

from .api_key_helpers import execute, rows


async def test_old_rate_windows_are_pruned_and_current_ones_kept(identity_app: FastAPI) -> None:
    now = datetime.now(UTC)
    windows = {
        "old-day": now - timedelta(days=3),
        "old-minute": now - timedelta(days=2, minutes=1),
        "yesterday": now - timedelta(days=1),
        "current": now,
    }
    for key_id, start in windows.items():
        await execute(
            identity_app,
            "INSERT INTO api_key_rate_windows (api_key_id, window_kind, window_start, count) "
            "VALUES (:id, 'minute', :start, 1)",
            id=f"prune-test-{key_id}",
            start=start,
        )
    factory = uow_factory(identity_app.state.database, identity_app.state.settings)
    assert await prune_rate_windows(factory) >= 2
    left = await rows(
        identity_app,
        "SELECT api_key_id FROM api_key_rate_windows WHERE api_key_id LIKE 'prune-test-%'",
    )
    assert sorted(r["api_key_id"] for r in left) == ["prune-test-current", "prune-test-yesterday"]
    assert await prune_rate_windows(factory) == 0  # idempotent


def test_the_worker_schedules_the_pruning() -> None:
    assert "prune-rate-windows" in {job.name for job in JOBS}
