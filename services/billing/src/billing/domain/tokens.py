"""A user's tokens: the balance, the ledger (newest first), admin adjustments, referral
rewards and the daily quota as the user sees them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlmodel import col

from billing.domain import ledger, quotas
from billing.domain.errors import NoTokenBalanceError, TransactionNotFoundError
from billing.domain.quotas import QuotaView
from billing.models import (
    TokensPackage,
    TokenTransaction,
    TokenTransactionType,
    new_id,
    utc_now,
)
from lib_contracts.identity import ReferralCompleted
from lib_database import UnitOfWork
from lib_database.keyset import newest_first_page

REFERRAL_SOURCE = "referral"
ADMIN_SOURCE = "admin"


@dataclass(frozen=True, slots=True)
class BalanceView:
    balance: int
    reserved: int
    tier: str
    last_regeneration: datetime
    updated_at: datetime

    @property
    def available(self) -> int:
        return self.balance - self.reserved


@dataclass(frozen=True, slots=True)
class TransactionPage:
    items: Sequence[TokenTransaction]
    next_cursor: str | None


_BALANCE = text(
    "SELECT b.balance, b.reserved, COALESCE(s.tier, b.tier), b.last_regeneration, b.updated_at "
    "FROM user_token_balances b LEFT JOIN subscriptions s ON s.user_id = b.user_id "
    "WHERE b.user_id = :user_id"
)


async def balance_of(uow: UnitOfWork, user_id: str) -> BalanceView:
    async with uow:
        row = (await uow.connection.execute(_BALANCE, {"user_id": user_id})).first()
    if row is None:
        raise NoTokenBalanceError()
    return BalanceView(int(row[0]), int(row[1]), str(row[2]), row[3], row[4])


async def list_transactions(
    uow: UnitOfWork,
    user_id: str,
    *,
    type_: TokenTransactionType | None,
    limit: int,
    cursor: str | None,
) -> TransactionPage:
    statement = select(TokenTransaction).where(col(TokenTransaction.user_id) == user_id)
    if type_ is not None:
        statement = statement.where(col(TokenTransaction.type) == type_.value)
    async with uow:
        rows, next_cursor = await newest_first_page(
            uow.session, statement, TokenTransaction, limit=limit, cursor=cursor
        )
    return TransactionPage(rows, next_cursor)


async def get_transaction(uow: UnitOfWork, user_id: str, transaction_id: str) -> TokenTransaction:
    """One of the user's own ledger rows; another user's is 404 like a missing one."""
    async with uow:
        row: TokenTransaction | None = (
            await uow.session.execute(
                select(TokenTransaction).where(
                    col(TokenTransaction.id) == transaction_id,
                    col(TokenTransaction.user_id) == user_id,
                )
            )
        ).scalar_one_or_none()
    if row is None:
        raise TransactionNotFoundError()
    return row


async def adjust(
    uow: UnitOfWork, *, admin_id: str, user_id: str, amount: int, reason: str
) -> TokenTransaction:
    """An admin credits or debits a user's tokens; the reason and the admin are in the row."""
    async with uow:
        posted = await ledger.post(
            uow.connection,
            user_id=user_id,
            amount=amount,
            type_=TokenTransactionType.ADMIN_ADJUSTMENT,
            source=ADMIN_SOURCE,
            source_id=new_id(),
            metadata={"reason": reason, "adminId": admin_id},
        )
        await uow.commit()
        row: TokenTransaction | None = await uow.session.get(
            TokenTransaction, posted.transaction_id
        )
    assert row is not None
    return row


async def list_packages(
    uow: UnitOfWork, *, limit: int, after_sort_order: int | None
) -> Sequence[TokensPackage]:
    """Packages on sale, in their display order."""
    statement = (
        select(TokensPackage)
        .where(col(TokensPackage.active))
        .order_by(col(TokensPackage.sort_order), col(TokensPackage.id))
        .limit(limit)
    )
    if after_sort_order is not None:
        statement = statement.where(col(TokensPackage.sort_order) > after_sort_order)
    async with uow:
        return list((await uow.session.execute(statement)).scalars())


async def quota_of(uow: UnitOfWork, user_id: str, limits: Mapping[str, int]) -> QuotaView:
    async with uow:
        return await quotas.current(uow.connection, user_id, limits, now=utc_now())


async def reward_referral(uow: UnitOfWork, payload: ReferralCompleted) -> bool:
    """Credit the referrer once per referral (inside the consumer's transaction). Seed 004's
    Referral grants tokens to the referrer only (`tokensGranted`)."""
    conn = uow.connection
    if payload.tokens_granted == 0 or await ledger.has_posted(
        conn,
        user_id=payload.referrer_id,
        type_=TokenTransactionType.EARN_REFERRAL,
        source=REFERRAL_SOURCE,
        source_id=payload.referral_id,
    ):
        return False
    await ledger.post(
        conn,
        user_id=payload.referrer_id,
        amount=payload.tokens_granted,
        type_=TokenTransactionType.EARN_REFERRAL,
        source=REFERRAL_SOURCE,
        source_id=payload.referral_id,
        metadata={"refereeId": payload.referee_id},
    )
    return True
