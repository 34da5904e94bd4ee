"""Seed 004's vouchers: admins create and list them, users redeem each one at most once.

A redemption takes one use with a single UPDATE that only matches an active, unexpired
voucher with uses left, so concurrent redemptions queue on the voucher's row and can never
pass `max_uses` (the row's CHECK backs that up); the last use marks it DEPLETED. The user's
redemption row (unique per voucher and user) and the ledger credit are in the same
transaction. FIXED_TOKENS vouchers credit `value` tokens; the other types apply to purchases
and subscriptions, not to the token balance.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from billing.domain import ledger
from billing.domain.errors import (
    UnsupportedVoucherTypeError,
    VoucherAlreadyRedeemedError,
    VoucherCodeTakenError,
    VoucherNotFoundError,
    VoucherUnavailableError,
)
from billing.models import (
    TokenTransactionType,
    Voucher,
    VoucherStatus,
    VoucherType,
    new_id,
    utc_now,
)
from lib_database import UnitOfWork
from lib_database.keyset import decode_cursor, encode_cursor

LEDGER_SOURCE = "voucher"
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def normalise_code(code: str) -> str:
    return code.strip().upper()


def new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))


@dataclass(frozen=True, slots=True)
class VoucherPage:
    items: Sequence[Voucher]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Redemption:
    voucher_id: str
    code: str
    tokens_granted: int
    balance_after: int
    transaction_id: str


async def create(
    uow: UnitOfWork,
    *,
    code: str | None,
    type_: VoucherType,
    value: int,
    max_uses: int | None,
    expires_at: datetime | None,
    status: VoucherStatus,
    metadata: dict[str, Any] | None,
) -> Voucher:
    voucher = Voucher(
        code=normalise_code(code) if code else new_code(),
        type=type_.value,
        value=value,
        max_uses=max_uses,
        expires_at=expires_at,
        status=status.value,
        metadata_=metadata,
    )
    async with uow:
        uow.session.add(voucher)
        try:
            await uow.commit()
        except IntegrityError as error:
            if "code" in str(error.orig):
                raise VoucherCodeTakenError() from error
            raise
    return voucher


async def list_vouchers(
    uow: UnitOfWork, *, status: VoucherStatus | None, limit: int, cursor: str | None
) -> VoucherPage:
    statement = (
        select(Voucher)
        .order_by(col(Voucher.created_at).desc(), col(Voucher.id).desc())
        .limit(limit + 1)
    )
    if status is not None:
        statement = statement.where(col(Voucher.status) == status.value)
    if cursor is not None:
        created_at, row_id = decode_cursor(cursor)
        statement = statement.where(
            or_(
                col(Voucher.created_at) < created_at,
                and_(col(Voucher.created_at) == created_at, col(Voucher.id) < row_id),
            )
        )
    async with uow:
        rows = list((await uow.session.execute(statement)).scalars())
    page = rows[:limit]
    next_cursor = (
        encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit and page else None
    )
    return VoucherPage(page, next_cursor)


_TAKE_USE = text(
    """
    UPDATE vouchers
    SET current_uses = current_uses + 1,
        status = CASE WHEN max_uses IS NOT NULL AND current_uses + 1 >= max_uses
                 THEN 'DEPLETED' ELSE status END,
        updated_at = :now
    WHERE code = :code AND status = 'ACTIVE' AND type = :type
      AND (expires_at IS NULL OR expires_at > :now)
      AND (max_uses IS NULL OR current_uses < max_uses)
    RETURNING id, value
    """
)

_REDEEMED = text(
    """
    INSERT INTO voucher_redemptions (id, voucher_id, user_id, tokens_granted, redeemed_at)
    VALUES (:id, :voucher_id, :user_id, :tokens, :now)
    ON CONFLICT (voucher_id, user_id) DO NOTHING
    RETURNING id
    """
)

_STATE = text(
    "SELECT v.id, v.type, v.status, v.expires_at, v.max_uses, v.current_uses, "
    "EXISTS (SELECT 1 FROM voucher_redemptions r WHERE r.voucher_id = v.id "
    "AND r.user_id = :user_id) FROM vouchers v WHERE v.code = :code"
)


async def redeem(uow: UnitOfWork, *, user_id: str, code: str) -> Redemption:
    code = normalise_code(code)
    now = utc_now()
    async with uow:
        conn = uow.connection
        taken = (
            await conn.execute(
                _TAKE_USE, {"code": code, "now": now, "type": VoucherType.FIXED_TOKENS}
            )
        ).first()
        if taken is None:
            raise await _why_not(conn, code, user_id, now)
        voucher_id, value = str(taken[0]), int(taken[1])
        redemption_id = new_id()
        inserted = (
            await conn.execute(
                _REDEEMED,
                {
                    "id": redemption_id,
                    "voucher_id": voucher_id,
                    "user_id": user_id,
                    "tokens": value,
                    "now": now,
                },
            )
        ).first()
        if inserted is None:  # the use taken above is rolled back with the transaction
            raise VoucherAlreadyRedeemedError()
        posted = await ledger.post(
            conn,
            user_id=user_id,
            amount=value,
            type_=TokenTransactionType.EARN_VOUCHER,
            source=LEDGER_SOURCE,
            source_id=redemption_id,
            metadata={"voucherId": voucher_id, "code": code},
            now=now,
        )
        await uow.commit()
    return Redemption(voucher_id, code, value, posted.balance_after, posted.transaction_id)


async def _why_not(conn: Any, code: str, user_id: str, now: datetime) -> Exception:
    row = (await conn.execute(_STATE, {"code": code, "user_id": user_id})).first()
    if row is None:
        return VoucherNotFoundError()
    _, type_, status, expires_at, max_uses, current_uses, redeemed = row
    if redeemed:
        return VoucherAlreadyRedeemedError()
    if status == VoucherStatus.EXPIRED or (expires_at is not None and expires_at <= now):
        return VoucherUnavailableError("expired")
    if status == VoucherStatus.DEPLETED or (max_uses is not None and current_uses >= max_uses):
        return VoucherUnavailableError("used up")
    if status != VoucherStatus.ACTIVE:
        return VoucherUnavailableError("inactive")
    return UnsupportedVoucherTypeError(type_)
