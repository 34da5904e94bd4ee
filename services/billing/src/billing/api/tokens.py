"""The caller's tokens: /api/v1/tokens (balance, ledger, packages on sale) and /api/v1/quota
(today's quota)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from billing.api.dependencies import CurrentUserId, PageCursor, PageLimit
from billing.api.schemas import Page
from billing.api.token_schemas import (
    BalanceResponse,
    QuotaResponse,
    TokensPackageResponse,
    TransactionResponse,
)
from billing.config import BillingSettings
from billing.domain import tokens
from billing.models import TokenTransactionType
from lib_runtime.dependencies import UnitOfWorkDep
from lib_web.problems import BadRequestError

router = APIRouter(tags=["tokens"])


@router.get("/api/v1/tokens/balance")
async def get_balance(user_id: CurrentUserId, uow: UnitOfWorkDep) -> BalanceResponse:
    view = await tokens.balance_of(uow, user_id)
    return BalanceResponse(
        balance=view.balance,
        reserved=view.reserved,
        available=view.available,
        tier=view.tier,
        last_regeneration=view.last_regeneration,
        updated_at=view.updated_at,
    )


@router.get("/api/v1/tokens/transactions")
async def list_transactions(
    user_id: CurrentUserId,
    uow: UnitOfWorkDep,
    type: Annotated[TokenTransactionType | None, Query()] = None,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> Page[TransactionResponse]:
    """The caller's ledger, newest first, optionally of one type."""
    page = await tokens.list_transactions(uow, user_id, type_=type, limit=limit, cursor=cursor)
    return Page[TransactionResponse](
        items=[TransactionResponse.model_validate(t) for t in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/api/v1/tokens/transactions/{transaction_id}")
async def get_transaction(
    transaction_id: str, user_id: CurrentUserId, uow: UnitOfWorkDep
) -> TransactionResponse:
    row = await tokens.get_transaction(uow, user_id, transaction_id)
    return TransactionResponse.model_validate(row)


@router.get("/api/v1/tokens/packages")
async def list_packages(
    uow: UnitOfWorkDep,
    limit: PageLimit = 20,
    cursor: Annotated[str | None, Query(max_length=16)] = None,
) -> Page[TokensPackageResponse]:
    """Token packages on sale (public), in their display order."""
    after = None
    if cursor is not None:
        if not cursor.isdigit():
            raise BadRequestError("The cursor is not valid.")
        after = int(cursor)
    packages = await tokens.list_packages(uow, limit=limit + 1, after_sort_order=after)
    page = packages[:limit]
    next_cursor = str(page[-1].sort_order) if len(packages) > limit else None
    return Page[TokensPackageResponse](
        items=[TokensPackageResponse.model_validate(p) for p in page], next_cursor=next_cursor
    )


@router.get("/api/v1/quota")
async def get_quota(user_id: CurrentUserId, uow: UnitOfWorkDep, request: Request) -> QuotaResponse:
    """Generations used today (UTC), the tier's daily limit and when the count resets."""
    settings: BillingSettings = request.app.state.settings
    view = await tokens.quota_of(uow, user_id, settings.daily_generation_limits)
    return QuotaResponse(
        tier=view.tier,
        used=view.used,
        limit=view.limit,
        remaining=view.remaining,
        resets_at=view.resets_at,
    )
