"""The tier of a user's API keys follows their plan (billing.subscription.updated).

Identity keeps a projection of each of the user's subscriptions; the user's tier is the
highest tier among the subscriptions that are live and include API access (otherwise FREE,
whose limits apply to every key). Events are
applied only if their `revision` is higher than the stored one, so a late, older snapshot
never overwrites a newer one.
"""

from __future__ import annotations

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from identity.models import ApiKey, ApiKeyStatus, PlanSubscription, User
from lib_contracts.billing import SubscriptionUpdated

FREE_TIER = "FREE"
# Billing statuses under which the plan's tier applies; PAST_DUE keeps it during dunning.
LIVE_STATUSES = frozenset({"ACTIVE", "TRIALING", "PAST_DUE"})
# Paid tiers, ordered; a user with two live subscriptions gets the higher one.
_TIER_RANK = {
    "FREE": 0,
    "BASIC": 1,
    "STARTER": 1,
    "STANDARD": 2,
    "PRO": 3,
    "PREMIUM": 3,
    "ENTERPRISE": 4,
}


def is_paid(tier: str) -> bool:
    return _TIER_RANK.get(tier, 0) > 0


def is_paid_and_live(event: SubscriptionUpdated) -> bool:
    """The event says the user now pays for a plan (what converts their trials)."""
    return is_paid(event.tier) and event.status in LIVE_STATUSES


async def user_tier(db: AsyncSession, user_id: str) -> str:
    """The tier a user's keys get now."""
    rows = await db.execute(
        select(col(PlanSubscription.tier)).where(
            PlanSubscription.user_id == user_id,
            col(PlanSubscription.status).in_(LIVE_STATUSES),
            col(PlanSubscription.api_access).is_(True),
        )
    )
    tiers = list(rows.scalars())
    return max(tiers, key=lambda t: _TIER_RANK.get(t, 0), default=FREE_TIER)


async def apply_subscription_update(db: AsyncSession, event: SubscriptionUpdated) -> str | None:
    """Store the snapshot if it is newer than the one held and retier the user's keys; the
    user's tier afterwards, or None when the event was stale or the user is unknown."""
    if await db.get(User, event.user_id) is None:
        return None  # deleted meanwhile (or never ours): nothing to retier
    values = {
        "subscription_id": event.subscription_id,
        "user_id": event.user_id,
        "tier": event.tier,
        "status": event.status,
        "api_access": event.api_access,
        "revision": event.revision,
        "updated_at": event.updated_at,
    }
    stmt = insert(PlanSubscription).values(values)
    upsert = stmt.on_conflict_do_update(
        index_elements=[col(PlanSubscription.subscription_id)],
        set_={k: stmt.excluded[k] for k in values if k != "subscription_id"},
        where=col(PlanSubscription.revision) < stmt.excluded.revision,
    ).returning(col(PlanSubscription.subscription_id))
    if (await db.execute(upsert)).first() is None:
        return None  # an older or repeated revision
    tier = await user_tier(db, event.user_id)
    await db.execute(
        update(ApiKey)
        .where(
            col(ApiKey.user_id) == event.user_id,
            col(ApiKey.status) != ApiKeyStatus.REVOKED,
            col(ApiKey.tier) != tier,
        )
        .values(tier=tier, updated_at=func.now())
    )
    return tier
