"""The token ledger: the one way a balance changes.

`post` moves a user's balance and appends the ledger row in one statement (a data-modifying
CTE: `UPDATE ... RETURNING balance` feeding the `INSERT`), so the row's `balance_after` is the
balance that statement produced and the two can never disagree. The UPDATE only matches while
the spendable balance (balance - reserved) stays >= 0, and the table's CHECK constraints are
the last line of defence behind it. Held tokens (`reserved`) are part of the balance but not
of the ledger until a reservation is committed; the balance always equals the ledger's sum.
A row's `created_at` is the database clock read while the balance row is locked, so a user's
ledger in time order is the order in which the changes applied.

Callers run it inside their unit of work's transaction; it never commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.domain.errors import InsufficientTokensError, NoTokenBalanceError
from billing.models import TokenTransactionType, new_id, utc_now

_POST = text(
    """
    WITH moved AS (
        UPDATE user_token_balances
        SET balance = balance + CAST(:amount AS integer),
            reserved = reserved + CAST(:reserved_delta AS integer),
            plan_tokens = CASE WHEN CAST(:amount AS integer) < 0
                THEN GREATEST(plan_tokens + CAST(:amount AS integer), 0)
                ELSE plan_tokens END,
            updated_at = :now
        WHERE user_id = :user_id
          AND balance + CAST(:amount AS integer) >= reserved + CAST(:reserved_delta AS integer)
        RETURNING balance
    )
    INSERT INTO token_transactions
        (id, user_id, amount, type, source, source_id, balance_after, metadata, created_at)
    SELECT :id, :user_id, :amount, :type, :source, :source_id, moved.balance,
           CAST(:metadata AS jsonb), clock_timestamp()
    FROM moved
    RETURNING balance_after
    """
)

_SPENDABLE = text("SELECT balance - reserved FROM user_token_balances WHERE user_id = :user_id")


@dataclass(frozen=True, slots=True)
class Posted:
    transaction_id: str
    balance_after: int


async def post(
    conn: AsyncConnection,
    *,
    user_id: str,
    amount: int,
    type_: TokenTransactionType,
    source: str | None = None,
    source_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    reserved_delta: int = 0,
    now: datetime | None = None,
) -> Posted:
    """Add `amount` (negative: a debit) to the user's balance and append its ledger row.

    `reserved_delta` moves held tokens at the same time (committing a reservation spends
    tokens that were held: amount = reserved_delta = -n). Raises InsufficientTokensError if
    the spendable balance would go negative, NoTokenBalanceError if the user has none.
    """
    if amount == 0:
        raise ValueError("a ledger row moves at least one token")
    transaction_id = new_id()
    params = {
        "id": transaction_id,
        "user_id": user_id,
        "amount": amount,
        "reserved_delta": reserved_delta,
        "type": type_.value,
        "source": source,
        "source_id": source_id,
        "metadata": json.dumps(metadata) if metadata is not None else None,
        "now": now or utc_now(),
    }
    try:
        balance_after = (await conn.execute(_POST, params)).scalar_one_or_none()
    except IntegrityError as error:
        # Only reached if the WHERE above were wrong: the CHECKs still refuse the debit (the
        # transaction is aborted then, so the balance cannot be read for the answer).
        if "balance" in str(error.orig) or "reserved" in str(error.orig):
            raise InsufficientTokensError(required=-amount, available=None) from error
        raise
    if balance_after is None:
        raise await refusal(conn, user_id, amount)
    return Posted(transaction_id, int(balance_after))


async def refusal(conn: AsyncConnection, user_id: str, amount: int) -> Exception:
    spendable = (await conn.execute(_SPENDABLE, {"user_id": user_id})).scalar_one_or_none()
    if spendable is None:
        return NoTokenBalanceError()
    return InsufficientTokensError(required=-amount, available=int(spendable))


async def has_posted(
    conn: AsyncConnection,
    *,
    user_id: str,
    type_: TokenTransactionType,
    source: str,
    source_id: str,
) -> bool:
    """Whether this cause (e.g. one referral, one regeneration period) is in the ledger."""
    found = await conn.execute(
        text(
            "SELECT 1 FROM token_transactions WHERE user_id = :user_id AND type = :type "
            "AND source = :source AND source_id = :source_id"
        ),
        {"user_id": user_id, "type": type_.value, "source": source, "source_id": source_id},
    )
    return found.first() is not None
