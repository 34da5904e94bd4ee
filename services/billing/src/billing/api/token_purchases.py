"""Buying token packages: POST /api/v1/tokens/purchase, and the caller's purchases."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from billing.api.dependencies import (
    CurrentUserId,
    PageCursor,
    PageLimit,
    StripeDep,
)
from billing.api.idempotent import OncePerKeyDep
from billing.api.schemas import Page
from billing.api.token_schemas import (
    PurchaseResponse,
    PurchaseStartedResponse,
    PurchaseTokensRequest,
)
from billing.domain import token_purchases
from lib_runtime.dependencies import UnitOfWorkDep

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


@router.post(
    "/purchase", status_code=status.HTTP_201_CREATED, response_model=PurchaseStartedResponse
)
async def purchase(
    body: PurchaseTokensRequest,
    user_id: CurrentUserId,
    uow: UnitOfWorkDep,
    stripe: StripeDep,
    once: OncePerKeyDep,
) -> JSONResponse:
    """Buy a token package: a PaymentIntent for its price, confirmed now with a payment
    method. The tokens are credited when Stripe reports the payment succeeded."""

    async def respond() -> PurchaseStartedResponse:
        started = await token_purchases.purchase(
            uow,
            stripe,
            user_id=user_id,
            package_id=body.package_id,
            payment_method_id=body.payment_method_id,
            request_key=once.key,
        )
        payment = started.payment
        assert payment.package_id is not None
        return PurchaseStartedResponse(
            payment_id=payment.id,
            client_secret=started.client_secret,
            status=payment.status,
            package_id=payment.package_id,
            tokens=payment.tokens_granted,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            failure_code=payment.failure_code,
        )

    return await once.respond(user_id=user_id, body=body, status_code=201, respond=respond)


@router.get("/purchases")
async def list_purchases(
    user_id: CurrentUserId,
    uow: UnitOfWorkDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> Page[PurchaseResponse]:
    """The caller's token purchases, newest first."""
    page = await token_purchases.list_mine(uow, user_id, limit=limit, cursor=cursor)
    return Page[PurchaseResponse](
        items=[PurchaseResponse.model_validate(p) for p in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/purchases/{payment_id}")
async def get_purchase(
    payment_id: str, user_id: CurrentUserId, uow: UnitOfWorkDep
) -> PurchaseResponse:
    return PurchaseResponse.model_validate(await token_purchases.get_mine(uow, user_id, payment_id))
