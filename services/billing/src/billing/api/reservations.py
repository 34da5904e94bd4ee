"""Token reservations for paid work, for our services only: POST /internal/tokens/reservations.

Idempotent on the job id: the same job gets the same reservation (200), a new one is 201, the
same job for another user or amount is 409. Not enough tokens is 402, the daily quota used up
is 429 with its reset time. One statement on the database (see `reservations.reserve`).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from billing.api.dependencies import DatabaseDep
from billing.api.token_schemas import ReservationResponse, ReserveTokensRequest
from billing.config import BillingSettings
from billing.domain import reservations
from lib_auth import require_internal_caller

router = APIRouter(
    prefix="/internal/tokens",
    tags=["internal"],
    dependencies=[Depends(require_internal_caller)],
)


@router.post("/reservations", response_model=ReservationResponse)
async def reserve(
    body: ReserveTokensRequest, database: DatabaseDep, request: Request
) -> JSONResponse:
    settings: BillingSettings = request.app.state.settings
    reservation, created = await reservations.reserve(
        database,
        user_id=body.user_id,
        job_id=body.job_id,
        amount=body.amount,
        source=body.source,
        daily_limits=settings.daily_generation_limits,
        hold_for=timedelta(seconds=settings.reservation_timeout_s),
    )
    response = ReservationResponse.model_validate(reservation)
    return JSONResponse(
        response.model_dump(mode="json", by_alias=True), status_code=201 if created else 200
    )
