"""After a random, concurrent workload of every kind of change (credits, spends,
reservations committed, released and expired, vouchers, regeneration), every balance equals
its ledger's sum and every user's `balance_after` chains."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from datetime import UTC, datetime, timedelta

from billing.domain import ledger, regeneration, reservations, vouchers
from billing.domain.errors import (
    DailyQuotaExceededError,
    InsufficientTokensError,
    VoucherAlreadyRedeemedError,
    VoucherUnavailableError,
)
from billing.models import TokenTransactionType, VoucherStatus, VoucherType, utc_now

from .conftest import TokensApp
from .helpers import assert_ledger_consistent, balance_row, user_with_tokens

REFUSALS = (
    InsufficientTokensError,
    DailyQuotaExceededError,
    VoucherAlreadyRedeemedError,
    VoucherUnavailableError,
)


async def test_balances_equal_their_ledgers_after_a_random_concurrent_workload(
    tokens_app: TokensApp,
) -> None:
    rng = random.Random(20261122)
    users = [await user_with_tokens(tokens_app.database, 20, now=utc_now()) for _ in range(8)]
    codes = []
    for max_uses in (3, 5, None):
        voucher = await vouchers.create(
            tokens_app.uow(),
            code=None,
            type_=VoucherType.FIXED_TOKENS,
            value=rng.randint(1, 9),
            max_uses=max_uses,
            expires_at=None,
            status=VoucherStatus.ACTIVE,
            metadata=None,
        )
        codes.append(voucher.code)
    held: list[tuple[str, str]] = []  # (reservation id, job id)

    async def credit_or_spend(user_id: str) -> None:
        amount = rng.choice([rng.randint(1, 15), -rng.randint(1, 15)])
        type_ = TokenTransactionType.EARN_PURCHASE if amount > 0 else TokenTransactionType.SPEND
        async with tokens_app.uow() as uow:
            await ledger.post(
                uow.connection,
                user_id=user_id,
                amount=amount,
                type_=type_,
                source="workload",
                source_id=str(uuid.uuid4()),
            )
            await uow.commit()

    async def reserve(user_id: str) -> None:
        reservation, _ = await reservations.reserve(
            tokens_app.database,
            user_id=user_id,
            job_id=f"job-{uuid.uuid4()}",
            amount=rng.randint(1, 6),
            source="workload",
            daily_limits={"FREE": 1000, "BASIC": 1000},
            hold_for=timedelta(minutes=rng.choice([-1, 10])),  # some expire at once
        )
        held.append((reservation.id, reservation.job_id))

    async def settle(user_id: str) -> None:
        if not held:
            return
        reservation_id, job_id = held.pop(rng.randrange(len(held)))
        async with tokens_app.uow() as uow:
            if rng.random() < 0.6:
                await reservations.commit(
                    uow.connection, reservation_id=reservation_id, job_id=job_id, metadata={}
                )
            else:
                await reservations.release(
                    uow.connection,
                    reservation_id=reservation_id,
                    job_id=job_id,
                    user_id=user_id,
                    amount=1,
                    source="workload",
                )
            await uow.commit()

    async def redeem(user_id: str) -> None:
        await vouchers.redeem(tokens_app.uow(), user_id=user_id, code=rng.choice(codes))

    async def expire(user_id: str) -> None:
        await reservations.release_expired(tokens_app.uow(), now=utc_now())

    operations = [credit_or_spend, credit_or_spend, reserve, settle, redeem, expire]

    async def one(user_id: str) -> None:
        # Refused changes change nothing; the check below proves it.
        with contextlib.suppress(*REFUSALS):
            await rng.choice(operations)(user_id)

    for _ in range(12):
        await asyncio.gather(*(one(rng.choice(users)) for _ in range(25)))
    # A new month in the middle of held reservations, run twice at once.
    next_month = datetime(2032, 6, 1, tzinfo=UTC)
    await asyncio.gather(
        *(regeneration.regenerate_due(tokens_app.uow(), now=next_month) for _ in range(2))
    )
    for _ in range(4):
        await asyncio.gather(*(one(rng.choice(users)) for _ in range(25)))

    await assert_ledger_consistent(tokens_app.database, users)
    for user_id in users:
        row = await balance_row(tokens_app.database, user_id)
        assert 0 <= row["reserved"] <= row["balance"]
