"""The caller's payment methods: /api/v1/payment-methods (attach, list, default, detach)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from billing.api.dependencies import (
    CurrentUserId,
    PageCursor,
    PageLimit,
    StripeDep,
)
from billing.api.idempotent import OncePerKeyDep
from billing.api.schemas import AttachPaymentMethodRequest, Page, PaymentMethodResponse
from billing.domain import payment_methods
from lib_runtime.dependencies import UnitOfWorkDep

router = APIRouter(prefix="/api/v1/payment-methods", tags=["payment methods"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PaymentMethodResponse)
async def attach(
    body: AttachPaymentMethodRequest,
    user_id: CurrentUserId,
    uow: UnitOfWorkDep,
    stripe: StripeDep,
    once: OncePerKeyDep,
) -> JSONResponse:
    """Attach a Stripe PaymentMethod to the caller; the first one becomes the default."""
    # Names this attach at Stripe: the client's key when given, so a retry attaches once.
    request_id = f"{user_id}:{once.key or uuid.uuid4()}"

    async def respond() -> PaymentMethodResponse:
        method = await payment_methods.attach(
            uow,
            stripe,
            user_id,
            body.payment_method_id,
            make_default=body.make_default,
            request_id=request_id,
        )
        return PaymentMethodResponse.model_validate(method)

    return await once.respond(user_id=user_id, body=body, status_code=201, respond=respond)


@router.get("")
async def list_payment_methods(
    user_id: CurrentUserId,
    uow: UnitOfWorkDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> Page[PaymentMethodResponse]:
    page = await payment_methods.list_mine(uow, user_id, limit=limit, cursor=cursor)
    return Page[PaymentMethodResponse](
        items=[PaymentMethodResponse.model_validate(m) for m in page.items],
        next_cursor=page.next_cursor,
    )


@router.post("/{payment_method_id}/default")
async def set_default(
    payment_method_id: str, user_id: CurrentUserId, uow: UnitOfWorkDep, stripe: StripeDep
) -> PaymentMethodResponse:
    method = await payment_methods.set_default(uow, stripe, user_id, payment_method_id)
    return PaymentMethodResponse.model_validate(method)


@router.delete("/{payment_method_id}", status_code=status.HTTP_204_NO_CONTENT)
async def detach(
    payment_method_id: str, user_id: CurrentUserId, uow: UnitOfWorkDep, stripe: StripeDep
) -> None:
    await payment_methods.detach(uow, stripe, user_id, payment_method_id)
