"""Vouchers: users redeem (/api/v1/vouchers/redeem); admins create and list
(/api/v1/admin/vouchers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import JSONResponse

from billing.api.dependencies import (
    CurrentUserId,
    PageCursor,
    PageLimit,
)
from billing.api.idempotent import OncePerKeyDep
from billing.api.schemas import Page
from billing.api.token_schemas import (
    CreateVoucherRequest,
    RedeemVoucherRequest,
    RedemptionResponse,
    VoucherResponse,
)
from billing.domain import vouchers
from billing.models import VoucherStatus
from lib_auth import Principal, Role, require_role
from lib_runtime.dependencies import UnitOfWorkDep

router = APIRouter(tags=["vouchers"])

AdminPrincipal = Annotated[Principal, Depends(require_role(Role.ADMIN))]


@router.post("/api/v1/vouchers/redeem", response_model=RedemptionResponse)
async def redeem(
    body: RedeemVoucherRequest,
    user_id: CurrentUserId,
    uow: UnitOfWorkDep,
    once: OncePerKeyDep,
) -> JSONResponse:
    """Redeem a voucher for tokens (once per user and voucher)."""

    async def respond() -> RedemptionResponse:
        redemption = await vouchers.redeem(uow, user_id=user_id, code=body.code)
        return RedemptionResponse.model_validate(redemption)

    return await once.respond(user_id=user_id, body=body, status_code=200, respond=respond)


@router.post(
    "/api/v1/admin/vouchers", status_code=status.HTTP_201_CREATED, response_model=VoucherResponse
)
async def create_voucher(
    body: CreateVoucherRequest,
    admin: AdminPrincipal,
    uow: UnitOfWorkDep,
    once: OncePerKeyDep,
) -> JSONResponse:
    async def respond() -> VoucherResponse:
        voucher = await vouchers.create(
            uow,
            code=body.code,
            type_=body.type,
            value=body.value,
            max_uses=body.max_uses,
            expires_at=body.expires_at,
            status=body.status,
            metadata=body.metadata,
        )
        return VoucherResponse.model_validate(voucher)

    return await once.respond(user_id=admin.user_id, body=body, status_code=201, respond=respond)


@router.get("/api/v1/admin/vouchers")
async def list_vouchers(
    admin: AdminPrincipal,
    uow: UnitOfWorkDep,
    status: Annotated[VoucherStatus | None, Query()] = None,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> Page[VoucherResponse]:
    """Every voucher, newest first, optionally of one status."""
    page = await vouchers.list_vouchers(uow, status=status, limit=limit, cursor=cursor)
    return Page[VoucherResponse](
        items=[VoucherResponse.model_validate(v) for v in page.items],
        next_cursor=page.next_cursor,
    )
