"""The ledger under concurrency: the balance never goes negative and always equals its rows."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from billing.domain import ledger
from billing.domain.errors import InsufficientTokensError, NoTokenBalanceError
from billing.models import TokenTransactionType, utc_now

from ..helpers import new_user_id
from .conftest import TokensApp
from .helpers import assert_ledger_consistent, balance_row, user_with_tokens


async def _spend_one(app: TokensApp, user_id: str) -> bool:
    async with app.uow() as uow:
        try:
            await ledger.post(
                uow.connection,
                user_id=user_id,
                amount=-1,
                type_=TokenTransactionType.SPEND,
                source="test-spend",
                source_id=str(uuid.uuid4()),
            )
        except InsufficientTokensError:
            return False
        await uow.commit()
        return True


async def test_200_concurrent_spends_of_one_token_against_100_leave_exactly_zero(
    tokens_app: TokensApp,
) -> None:
    user_id = await user_with_tokens(tokens_app.database, 100, now=utc_now())

    outcomes = await asyncio.gather(*(_spend_one(tokens_app, user_id) for _ in range(200)))

    assert outcomes.count(True) == 100
    assert outcomes.count(False) == 100
    assert (await balance_row(tokens_app.database, user_id))["balance"] == 0
    await assert_ledger_consistent(tokens_app.database, [user_id])


async def test_200_concurrent_reservations_of_one_token_against_100_hold_exactly_100(
    tokens_app: TokensApp,
) -> None:
    user_id = await user_with_tokens(tokens_app.database, 100, now=utc_now())

    async def reserve(job: int) -> int:
        response = await tokens_app.http.post(
            "/internal/tokens/reservations",
            json={"jobId": f"{user_id}-job-{job}", "userId": user_id, "amount": 1},
            headers=tokens_app.internal,
        )
        assert response.status_code in (201, 402), response.text
        return response.status_code

    codes = await asyncio.gather(*(reserve(job) for job in range(200)))

    assert codes.count(201) == 100
    assert codes.count(402) == 100
    row = await balance_row(tokens_app.database, user_id)
    assert (row["balance"], row["reserved"]) == (100, 100)
    await assert_ledger_consistent(tokens_app.database, [user_id])


async def test_a_debit_past_the_balance_is_refused_and_changes_nothing(
    tokens_app: TokensApp,
) -> None:
    user_id = await user_with_tokens(tokens_app.database, 3, now=utc_now())
    async with tokens_app.uow() as uow:
        with pytest.raises(InsufficientTokensError) as refused:
            await ledger.post(
                uow.connection,
                user_id=user_id,
                amount=-4,
                type_=TokenTransactionType.SPEND,
            )
    assert refused.value.status == 402
    assert refused.value.extensions == {"required": 4, "available": 3}
    assert (await balance_row(tokens_app.database, user_id))["balance"] == 3


async def test_a_user_without_a_balance_is_refused(tokens_app: TokensApp) -> None:
    async with tokens_app.uow() as uow:
        with pytest.raises(NoTokenBalanceError):
            await ledger.post(
                uow.connection,
                user_id=new_user_id(),
                amount=5,
                type_=TokenTransactionType.EARN_PURCHASE,
            )
