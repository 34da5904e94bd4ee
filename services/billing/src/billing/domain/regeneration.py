"""Monthly token regeneration per plan, with rollover capped at the plan's maxRollover.

Once per user and UTC calendar month (the period, `YYYY-MM`): the plan's tokens left unused
(`plan_tokens`, spent before any other tokens) roll over up to `max_rollover`, the rest expire
(an EXPIRE_ROLLOVER row; bought, voucher and referral tokens never expire), and the plan's
`tokens_per_month` are credited (an EARN_REGENERATION row whose cause is the period).

Exactly once per user and period: the balance row is locked and its `last_regeneration`
moved into the period in the same transaction as the credit, and the ledger's unique cause
(user, type, source, period) refuses a second credit even if that guard were bypassed.
A new user gets the current period's grant when the balance is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.domain import ledger
from billing.models import SubscriptionTier, TokenTransactionType, new_id
from lib_database import UnitOfWork

LEDGER_SOURCE = "regeneration"


@dataclass(frozen=True, slots=True)
class PlanAllowance:
    tier: str
    tokens_per_month: int
    max_rollover: int


def period_of(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m}"


def period_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


_ALLOWANCE = text(
    "SELECT p.tier, p.tokens_per_month, p.max_rollover FROM subscription_plans p "
    "WHERE p.id = COALESCE((SELECT s.plan_id FROM subscriptions s WHERE s.user_id = :user_id), "
    "(SELECT f.id FROM subscription_plans f WHERE f.tier = :free))"
)

_OPEN = text(
    """
    INSERT INTO user_token_balances (id, user_id, balance, reserved, plan_tokens,
        last_regeneration, tier, created_at, updated_at)
    VALUES (:id, :user_id, 0, 0, 0, :now, :tier, :now, :now)
    ON CONFLICT (user_id) DO NOTHING
    RETURNING id
    """
)

_SET_PERIOD = text(
    "UPDATE user_token_balances SET plan_tokens = :plan_tokens, last_regeneration = :now, "
    "tier = :tier, updated_at = :now WHERE user_id = :user_id"
)

_KEEP_ROLLOVER = text(
    "UPDATE subscriptions SET rollover_tokens = LEAST(:rollover, max_rollover) "
    "WHERE user_id = :user_id"
)

_DUE = text(
    "SELECT user_id, balance, reserved, plan_tokens FROM user_token_balances "
    "WHERE last_regeneration < :period_start ORDER BY last_regeneration, user_id "
    "LIMIT :limit FOR UPDATE SKIP LOCKED"
)


async def allowance(conn: AsyncConnection, user_id: str) -> PlanAllowance:
    row = (
        await conn.execute(_ALLOWANCE, {"user_id": user_id, "free": SubscriptionTier.FREE})
    ).one()
    return PlanAllowance(str(row[0]), int(row[1]), int(row[2]))


async def _grant_plan_tokens(
    conn: AsyncConnection,
    user_id: str,
    plan: PlanAllowance,
    *,
    period: str,
    rollover: int,
    now: datetime,
) -> None:
    """The period's tokens of the user's plan on the ledger (none on a plan without tokens)."""
    if plan.tokens_per_month > 0:
        await ledger.post(
            conn,
            user_id=user_id,
            amount=plan.tokens_per_month,
            type_=TokenTransactionType.EARN_REGENERATION,
            source=LEDGER_SOURCE,
            source_id=period,
            metadata={"tier": plan.tier, "rollover": rollover},
            now=now,
        )


async def open_balance(conn: AsyncConnection, user_id: str, *, now: datetime) -> bool:
    """The new user's balance with this period's tokens of their plan (the free plan on
    registration); False if they have a balance already."""
    plan = await allowance(conn, user_id)
    opened = (
        await conn.execute(
            _OPEN, {"id": new_id(), "user_id": user_id, "now": now, "tier": plan.tier}
        )
    ).first()
    if opened is None:
        return False
    await _grant_plan_tokens(conn, user_id, plan, period=period_of(now), rollover=0, now=now)
    await conn.execute(
        _SET_PERIOD,
        {"user_id": user_id, "plan_tokens": plan.tokens_per_month, "now": now, "tier": plan.tier},
    )
    return True


async def _regenerate(
    conn: AsyncConnection,
    user_id: str,
    *,
    balance: int,
    reserved: int,
    plan_tokens: int,
    now: datetime,
) -> None:
    """One user's new period (their balance row is locked by the caller)."""
    period = period_of(now)
    plan = await allowance(conn, user_id)
    unused = min(plan_tokens, balance)
    rollover = min(unused, plan.max_rollover)
    # Held tokens stay: a running job's reservation is never expired away.
    expired = min(unused - rollover, balance - reserved)
    already = await ledger.has_posted(
        conn,
        user_id=user_id,
        type_=TokenTransactionType.EARN_REGENERATION,
        source=LEDGER_SOURCE,
        source_id=period,
    )
    if not already:
        if expired > 0:
            await ledger.post(
                conn,
                user_id=user_id,
                amount=-expired,
                type_=TokenTransactionType.EXPIRE_ROLLOVER,
                source=LEDGER_SOURCE,
                source_id=period,
                metadata={"maxRollover": plan.max_rollover},
                now=now,
            )
        await _grant_plan_tokens(conn, user_id, plan, period=period, rollover=rollover, now=now)
        await conn.execute(_KEEP_ROLLOVER, {"user_id": user_id, "rollover": rollover})
    await conn.execute(
        _SET_PERIOD,
        {
            "user_id": user_id,
            "plan_tokens": rollover + plan.tokens_per_month,
            "now": now,
            "tier": plan.tier,
        },
    )


async def regenerate_due(uow: UnitOfWork, *, now: datetime, batch_size: int = 100) -> int:
    """The monthly job: every balance not regenerated in the period of `now` gets its new
    period, one commit per batch. Safe to run twice or concurrently (locked rows are skipped
    and a done row no longer matches)."""
    start = period_start(now)
    handled = 0
    async with uow:
        conn = uow.connection
        while True:
            due = (await conn.execute(_DUE, {"period_start": start, "limit": batch_size})).all()
            for user_id, balance, reserved, plan_tokens in due:
                await _regenerate(
                    conn,
                    user_id,
                    balance=balance,
                    reserved=reserved,
                    plan_tokens=plan_tokens,
                    now=now,
                )
            await uow.commit()
            handled += len(due)
            if len(due) < batch_size:
                return handled
