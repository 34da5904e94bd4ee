"""Token reservations for paid work, for our services only: POST /internal/tokens/reservations.

Idempotent on the job id: the same job gets the same reservation (200), a new one is 201, the
same job for another user or amount is 409. Not enough tokens is 402, the daily quota used up
is 429 with its reset time. Concurrent calls share one statement on the database (see
`ReservationBatcher`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from billing.api.token_schemas import ReservationResponse, ReserveTokensRequest
from billing.domain.reservation_batcher import ReservationBatcher
from billing.domain.reservations import ReservationRequest
from lib_auth import require_internal_caller

router = APIRouter(
    prefix="/internal/tokens",
    tags=["internal"],
    dependencies=[Depends(require_internal_caller)],
)


@router.post("/reservations", response_model=ReservationResponse)
async def reserve(body: ReserveTokensRequest, request: Request) -> JSONResponse:
    batcher: ReservationBatcher = request.app.state.reservation_batcher
    reservation, created = await batcher.reserve(
        ReservationRequest(body.user_id, body.job_id, body.amount, body.source)
    )
    response = ReservationResponse.model_validate(reservation)
    return JSONResponse(
        response.model_dump(mode="json", by_alias=True), status_code=201 if created else 200
    )
