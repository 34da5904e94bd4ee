"""Admins adjust a user's tokens: POST /api/v1/admin/tokens/adjustments (audited in the
ledger as an ADMIN_ADJUSTMENT row carrying the reason and the admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.responses import JSONResponse

from billing.api.idempotent import OncePerKeyDep
from billing.api.token_schemas import AdjustTokensRequest, TransactionResponse
from billing.domain import tokens
from lib_auth import Principal, Role, require_role
from lib_runtime.dependencies import UnitOfWorkDep
from lib_web.problems import ProblemError

router = APIRouter(prefix="/api/v1/admin/tokens", tags=["admin"])


@router.post(
    "/adjustments", status_code=status.HTTP_201_CREATED, response_model=TransactionResponse
)
async def adjust(
    body: AdjustTokensRequest,
    admin: Annotated[Principal, Depends(require_role(Role.ADMIN))],
    uow: UnitOfWorkDep,
    once: OncePerKeyDep,
) -> JSONResponse:
    if body.amount == 0:
        raise ProblemError(422, "Unprocessable Content", "An adjustment moves at least 1 token.")

    async def respond() -> TransactionResponse:
        row = await tokens.adjust(
            uow,
            admin_id=admin.user_id,
            user_id=body.user_id,
            amount=body.amount,
            reason=body.reason,
        )
        return TransactionResponse.model_validate(row)

    return await once.respond(user_id=admin.user_id, body=body, status_code=201, respond=respond)
