"""Monthly regeneration: the plan's tokens once per user and month, unused plan tokens rolled
over up to maxRollover (the rest expire, bought tokens never), even when the job runs twice
or concurrently."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import text

from billing.domain import ledger, regeneration
from billing.jobs import JOBS
from billing.models import TokenTransactionType, new_id

from ..helpers import new_user_id
from .conftest import TokensApp
from .helpers import assert_ledger_consistent, balance_row

JANUARY = datetime(2031, 1, 10, 12, tzinfo=UTC)
FEBRUARY = datetime(2031, 2, 1, 0, 5, tzinfo=UTC)


async def _user_on_plan(app: TokensApp, plan_id: str) -> str:
    """A user subscribed to `plan_id` (as billing's own tables hold it), balance opened in
    January with that plan's tokens."""
    user_id = new_user_id()
    async with app.uow() as uow:
        conn = uow.connection
        customer_id = new_id()
        await conn.execute(
            text(
                "INSERT INTO customers (id, user_id, created_at, updated_at) "
                "VALUES (:id, :u, now(), now())"
            ),
            {"id": customer_id, "u": user_id},
        )
        await conn.execute(
            text(
                "INSERT INTO subscriptions (id, user_id, customer_id, plan_id, status, tier, "
                "cancel_at_period_end, tokens_per_month, rollover_tokens, max_rollover, "
                "revision, created_at, updated_at) "
                "SELECT :id, :u, :c, p.id, 'ACTIVE', p.tier, false, p.tokens_per_month, 0, "
                "p.max_rollover, 1, now(), now() FROM subscription_plans p WHERE p.id = :plan"
            ),
            {"id": new_id(), "u": user_id, "c": customer_id, "plan": plan_id},
        )
        await regeneration.open_balance(conn, user_id, now=JANUARY)
        await uow.commit()
    return user_id


async def _post(app: TokensApp, user_id: str, amount: int, type_: TokenTransactionType) -> None:
    async with app.uow() as uow:
        await ledger.post(
            uow.connection,
            user_id=user_id,
            amount=amount,
            type_=type_,
            source="test",
            source_id=str(uuid.uuid4()),
        )
        await uow.commit()


async def _rows(app: TokensApp, user_id: str, period: str) -> list[tuple[str, int]]:
    async with app.database.engine.connect() as conn:
        return [
            (str(t), int(a))
            for t, a in (
                await conn.execute(
                    text(
                        "SELECT type, amount FROM token_transactions WHERE user_id = :u "
                        "AND source = 'regeneration' AND source_id = :p ORDER BY created_at"
                    ),
                    {"u": user_id, "p": period},
                )
            ).all()
        ]


async def test_a_new_balance_starts_with_the_plans_tokens_of_the_month(
    tokens_app: TokensApp,
) -> None:
    user_id = await _user_on_plan(tokens_app, "plan_basic")
    assert await _rows(tokens_app, user_id, "2031-01") == [("EARN_REGENERATION", 20)]
    assert await balance_row(tokens_app.database, user_id) == {
        "balance": 20,
        "reserved": 0,
        "plan_tokens": 20,
    }


async def test_unused_plan_tokens_roll_over_up_to_max_rollover_and_bought_ones_stay(
    tokens_app: TokensApp,
) -> None:
    free = await _user_on_plan(tokens_app, "plan_free")  # 10 a month, no rollover
    basic = await _user_on_plan(tokens_app, "plan_basic")  # 20 a month, up to 20 rolled over
    await _post(tokens_app, free, 7, TokenTransactionType.EARN_PURCHASE)
    await _post(tokens_app, free, -4, TokenTransactionType.SPEND)  # from the plan's 10 first
    await _post(tokens_app, basic, -5, TokenTransactionType.SPEND)

    await regeneration.regenerate_due(tokens_app.uow(), now=FEBRUARY)

    # free: 6 plan tokens left expire, the 7 bought stay, 10 new.
    assert await _rows(tokens_app, free, "2031-02") == [
        ("EXPIRE_ROLLOVER", -6),
        ("EARN_REGENERATION", 10),
    ]
    assert (await balance_row(tokens_app.database, free))["balance"] == 17
    # basic: 15 left roll over (cap 20), 20 new.
    assert await _rows(tokens_app, basic, "2031-02") == [("EARN_REGENERATION", 20)]
    assert await balance_row(tokens_app.database, basic) == {
        "balance": 35,
        "reserved": 0,
        "plan_tokens": 35,
    }
    async with tokens_app.database.engine.connect() as conn:
        rollover = (
            await conn.execute(
                text("SELECT rollover_tokens FROM subscriptions WHERE user_id = :u"), {"u": basic}
            )
        ).scalar_one()
    assert rollover == 15
    await assert_ledger_consistent(tokens_app.database, [free, basic])


async def test_regeneration_runs_once_per_user_and_month_even_twice_and_concurrently(
    tokens_app: TokensApp,
) -> None:
    users = [await _user_on_plan(tokens_app, "plan_standard") for _ in range(12)]
    march = datetime(2031, 3, 1, 0, 1, tzinfo=UTC)

    await asyncio.gather(
        *(regeneration.regenerate_due(tokens_app.uow(), now=march, batch_size=5) for _ in range(4))
    )
    await regeneration.regenerate_due(tokens_app.uow(), now=march)

    for user_id in users:
        assert await _rows(tokens_app, user_id, "2031-03") == [("EARN_REGENERATION", 50)]
        # January's 50 unused roll over (cap 50); February was never run for them.
        assert (await balance_row(tokens_app.database, user_id))["balance"] == 100
    await assert_ledger_consistent(tokens_app.database, users)


async def test_held_tokens_never_expire(tokens_app: TokensApp) -> None:
    user_id = await _user_on_plan(tokens_app, "plan_free")
    async with tokens_app.database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE user_token_balances SET reserved = 8 WHERE user_id = :u"), {"u": user_id}
        )
    april = datetime(2031, 4, 2, tzinfo=UTC)

    await regeneration.regenerate_due(tokens_app.uow(), now=april)

    assert await _rows(tokens_app, user_id, "2031-04") == [
        ("EXPIRE_ROLLOVER", -2),
        ("EARN_REGENERATION", 10),
    ]
    row = await balance_row(tokens_app.database, user_id)
    assert (row["balance"], row["reserved"]) == (18, 8)


def test_the_worker_schedules_regeneration_and_the_reservation_timeout() -> None:
    names = {job.name for job in JOBS}
    assert {"regenerate-tokens", "release-expired-reservations"} <= names
