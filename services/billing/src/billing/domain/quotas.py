"""Seed 003's daily generation quota: one row per user and UTC day, counting reservations.

The limit follows the user's tier (their subscription in billing's own tables): the setting
`daily_generation_limits` if it names the tier, else the plan's `daily_generations`. A new
day starts at 0; the counter is taken with one upsert whose WHERE refuses a use past the
limit, so concurrent reservations can never overshoot it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.domain.errors import DailyQuotaExceededError
from billing.models import SubscriptionTier, new_id

_TIER_AND_PLAN_LIMIT = text(
    "SELECT p.tier, p.daily_generations FROM subscription_plans p "
    "WHERE p.tier = COALESCE((SELECT s.tier FROM subscriptions s WHERE s.user_id = :user_id), "
    ":free)"
)

_USE = text(
    """
    INSERT INTO daily_quotas
        (id, user_id, quota_date, tier, daily_limit, used, resets_at, created_at, updated_at)
    VALUES (:id, :user_id, :day, :tier, :limit, 1, :resets_at, :now, :now)
    ON CONFLICT (user_id, quota_date) DO UPDATE
    SET used = daily_quotas.used + 1, daily_limit = EXCLUDED.daily_limit,
        tier = EXCLUDED.tier, updated_at = EXCLUDED.updated_at
    WHERE daily_quotas.used < EXCLUDED.daily_limit
    RETURNING used
    """
)

_GIVE_BACK = text(
    "UPDATE daily_quotas SET used = used - 1, updated_at = :now "
    "WHERE user_id = :user_id AND quota_date = :day AND used > 0"
)

_USED = text("SELECT used FROM daily_quotas WHERE user_id = :user_id AND quota_date = :day")


@dataclass(frozen=True, slots=True)
class QuotaView:
    tier: str
    used: int
    limit: int
    resets_at: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def next_reset(moment: datetime) -> datetime:
    """The UTC midnight after `moment`."""
    return datetime.combine(utc_day(moment) + timedelta(days=1), time(), tzinfo=UTC)


async def _tier_and_limit(
    conn: AsyncConnection, user_id: str, limits: Mapping[str, int]
) -> tuple[str, int]:
    row = (
        await conn.execute(
            _TIER_AND_PLAN_LIMIT, {"user_id": user_id, "free": SubscriptionTier.FREE}
        )
    ).one()
    tier, plan_limit = str(row[0]), int(row[1])
    return tier, limits.get(tier, plan_limit)


async def current(
    conn: AsyncConnection, user_id: str, limits: Mapping[str, int], *, now: datetime
) -> QuotaView:
    tier, limit = await _tier_and_limit(conn, user_id, limits)
    used = (
        await conn.execute(_USED, {"user_id": user_id, "day": utc_day(now)})
    ).scalar_one_or_none()
    return QuotaView(tier=tier, used=int(used or 0), limit=limit, resets_at=next_reset(now))


async def use_one(
    conn: AsyncConnection, user_id: str, limits: Mapping[str, int], *, now: datetime
) -> None:
    """Count one generation today; DailyQuotaExceededError (with the reset time) if none is
    left."""
    tier, limit = await _tier_and_limit(conn, user_id, limits)
    resets_at = next_reset(now)
    if limit <= 0:  # the insert below would break the row's CHECK
        raise DailyQuotaExceededError(limit=limit, resets_at=resets_at)
    used = (
        await conn.execute(
            _USE,
            {
                "id": new_id(),
                "user_id": user_id,
                "day": utc_day(now),
                "tier": tier,
                "limit": limit,
                "resets_at": resets_at,
                "now": now,
            },
        )
    ).scalar_one_or_none()
    if used is None:
        raise DailyQuotaExceededError(limit=limit, resets_at=resets_at)


async def give_back(conn: AsyncConnection, user_id: str, *, day: date, now: datetime) -> None:
    """A released reservation does not count against its day's quota."""
    await conn.execute(_GIVE_BACK, {"user_id": user_id, "day": day, "now": now})
