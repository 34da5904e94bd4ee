"""Helpers of the token tests: users with a balance, ledger checks (access tokens and waiting
are billing's tests' helpers, ../helpers.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text

from billing.domain import ledger, regeneration
from billing.models import TokenTransactionType
from lib_database import Database, UnitOfWork

from ..helpers import new_user_id


async def user_with_tokens(database: Database, tokens: int, *, now: datetime) -> str:
    """A user whose balance was opened (free plan grant of the period) and then topped up or
    cut down to exactly `tokens` through the ledger."""
    user_id = new_user_id()
    async with UnitOfWork(database, source="billing") as uow:
        await regeneration.open_balance(uow.connection, user_id, now=now)
        balance = (
            await uow.connection.execute(
                text("SELECT balance FROM user_token_balances WHERE user_id = :u"), {"u": user_id}
            )
        ).scalar_one()
        if tokens != balance:
            await ledger.post(
                uow.connection,
                user_id=user_id,
                amount=tokens - balance,
                type_=TokenTransactionType.ADMIN_ADJUSTMENT,
                source="test",
                source_id=str(uuid.uuid4()),
            )
        await uow.commit()
    return user_id


async def balance_row(database: Database, user_id: str) -> dict[str, Any]:
    async with database.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT balance, reserved, plan_tokens FROM user_token_balances "
                    "WHERE user_id = :u"
                ),
                {"u": user_id},
            )
        ).one()
    return dict(row._mapping)


async def assert_ledger_consistent(database: Database, user_ids: list[str] | None = None) -> None:
    """Every balance equals its ledger's sum, and each user's rows in time order chain:
    balance_after = previous balance_after + amount, from 0."""
    async with database.engine.connect() as conn:
        balances = {
            str(u): (int(b), int(r))
            for u, b, r in (
                await conn.execute(
                    text("SELECT user_id, balance, reserved FROM user_token_balances")
                )
            ).all()
        }
        rows = (
            await conn.execute(
                text(
                    "SELECT user_id, amount, balance_after FROM token_transactions "
                    "ORDER BY user_id, created_at, id"
                )
            )
        ).all()
    chains: dict[str, int] = {}
    for user_id, amount, balance_after in rows:
        previous = chains.get(user_id, 0)
        assert balance_after == previous + amount, (user_id, previous, amount, balance_after)
        assert balance_after >= 0
        chains[user_id] = balance_after
    for user_id in user_ids if user_ids is not None else list(balances):
        balance, reserved = balances[user_id]
        assert balance == chains.get(user_id, 0), (user_id, balance, chains.get(user_id))
        assert 0 <= reserved <= balance
