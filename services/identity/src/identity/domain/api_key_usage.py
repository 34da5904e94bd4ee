"""API key usage: calls reported by other services (`<context>.api_usage.recorded`), stored in
api_calls once per call id, and summed up per day for the key's owner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from identity.domain.api_keys import get_api_key
from lib_contracts.api_usage import ApiUsageBatch
from lib_database import UnitOfWork

# Calls of keys identity does not know (deleted, or trial keys: api_calls belongs to
# api_keys) are skipped; a call id seen before is skipped too (ON CONFLICT).
_STORE_CALLS = text(
    """
    WITH calls AS (
        SELECT * FROM unnest(
            CAST(:ids AS text[]), CAST(:key_ids AS text[]), CAST(:endpoints AS text[]),
            CAST(:methods AS text[]), CAST(:statuses AS int[]), CAST(:latencies AS int[]),
            CAST(:called_at AS timestamptz[])
        ) AS c(id, api_key_id, endpoint, method, status_code, latency_ms, created_at)
    ),
    stored AS (
        INSERT INTO api_calls (id, api_key_id, endpoint, method, status_code, latency_ms,
                               created_at)
        SELECT c.* FROM calls c JOIN api_keys k ON k.id = c.api_key_id
        ON CONFLICT (id) DO NOTHING
        RETURNING api_key_id, created_at
    ),
    latest AS (
        SELECT api_key_id, max(created_at) AS used_at FROM stored GROUP BY api_key_id
    )
    UPDATE api_keys k SET last_used_at = latest.used_at
    FROM latest
    WHERE k.id = latest.api_key_id AND (k.last_used_at IS NULL OR k.last_used_at < latest.used_at)
    """
)


async def store_calls(uow: UnitOfWork, batch: ApiUsageBatch) -> None:
    """Store a reported batch (inside the consumer's transaction; it commits)."""
    calls = batch.calls
    await uow.connection.execute(
        _STORE_CALLS,
        {
            "ids": [c.call_id for c in calls],
            "key_ids": [c.api_key_id for c in calls],
            "endpoints": [c.endpoint for c in calls],
            "methods": [c.method.upper() for c in calls],
            "statuses": [c.status_code for c in calls],
            "latencies": [c.latency_ms for c in calls],
            "called_at": [c.called_at for c in calls],
        },
    )


_DAILY_USAGE = text(
    """
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
           count(*) AS calls,
           count(*) FILTER (WHERE status_code >= 400) AS errors,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95
    FROM api_calls
    WHERE api_key_id = :key_id AND created_at >= :since
    GROUP BY day
    ORDER BY day
    """
)


@dataclass(frozen=True, slots=True)
class DailyUsage:
    day: date
    calls: int
    errors: int
    p50_latency_ms: float | None
    p95_latency_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


@dataclass(frozen=True, slots=True)
class KeyUsage:
    api_key_id: str
    since: date
    days: list[DailyUsage]  # one per day of the period, days without calls included


async def key_usage(uow: UnitOfWork, user_id: str, key_id: str, *, days: int) -> KeyUsage:
    """Calls per UTC day over the last `days` days (today included), for the key's owner."""
    await get_api_key(uow, user_id, key_id)  # 404 unless it is the caller's key
    today = datetime.now(UTC).date()
    since = today - timedelta(days=days - 1)
    async with uow:
        rows = await uow.connection.execute(
            _DAILY_USAGE,
            {"key_id": key_id, "since": datetime.combine(since, datetime.min.time(), UTC)},
        )
        found = {
            row.day: DailyUsage(row.day, row.calls, row.errors, row.p50, row.p95) for row in rows
        }
    return KeyUsage(
        api_key_id=key_id,
        since=since,
        days=[
            found.get(day, DailyUsage(day, 0, 0, None, None))
            for day in (since + timedelta(days=n) for n in range(days))
        ],
    )
