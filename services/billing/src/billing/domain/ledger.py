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


def posting(request: str) -> str:
    """The two CTEs that post a ledger change, for statements that compose it with their own
    work in one round trip (`post` below; a reservation's commit). `request` names an earlier
    CTE of one row with the columns transaction_id, user_id, amount, reserved_delta, type,
    source, source_id, metadata (jsonb) and now. `moved` updates the balance only while the
    spendable part stays >= 0 and returns the new balance; `posted` appends the row with that
    balance as `balance_after` and returns (id, balance_after). Nothing is posted if the
    balance row is missing or the change would overdraw it."""
    return f"""
    moved AS (
        UPDATE user_token_balances b
        SET balance = b.balance + r.amount,
            reserved = b.reserved + r.reserved_delta,
            plan_tokens = CASE WHEN r.amount < 0
                THEN GREATEST(b.plan_tokens + r.amount, 0) ELSE b.plan_tokens END,
            updated_at = r.now
        FROM {request} r
        WHERE b.user_id = r.user_id AND b.balance + r.amount >= b.reserved + r.reserved_delta
        RETURNING b.balance AS balance_after, r.transaction_id, r.user_id, r.amount, r.type,
                  r.source, r.source_id, r.metadata
    ), posted AS (
        INSERT INTO token_transactions
            (id, user_id, amount, type, source, source_id, balance_after, metadata, created_at)
        SELECT m.transaction_id, m.user_id, m.amount, m.type, m.source, m.source_id,
               m.balance_after, m.metadata, clock_timestamp()
        FROM moved m
        RETURNING id, balance_after
    )"""


_POST = text(
    f"""
    WITH request AS (
        SELECT CAST(:id AS text) AS transaction_id, CAST(:user_id AS text) AS user_id,
               CAST(:amount AS integer) AS amount,
               CAST(:reserved_delta AS integer) AS reserved_delta, CAST(:type AS text) AS type,
               CAST(:source AS text) AS source, CAST(:source_id AS text) AS source_id,
               CAST(:metadata AS jsonb) AS metadata, CAST(:now AS timestamptz) AS now
    ), {posting("request")}
    SELECT balance_after FROM posted
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
