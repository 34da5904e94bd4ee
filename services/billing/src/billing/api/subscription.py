"""The caller's subscription: /api/v1/subscription (get, change plan, cancel, resume)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from billing.api.dependencies import CurrentUserId, StripeDep
from billing.api.idempotent import OncePerKey, OncePerKeyDep
from billing.api.schemas import ChangePlanRequest, SubscriptionResponse
from billing.domain import subscriptions
from billing.domain.subscriptions import SubscriptionView
from lib_runtime.dependencies import UnitOfWorkDep

router = APIRouter(prefix="/api/v1/subscription", tags=["subscription"])


async def _once(
    once: OncePerKey,
    user_id: str,
    body: ChangePlanRequest | None,
    change: Callable[[], Awaitable[SubscriptionView]],
) -> JSONResponse:
    async def respond() -> SubscriptionResponse:
        return SubscriptionResponse.of(await change())

    return await once.respond(user_id=user_id, body=body, status_code=200, respond=respond)


@router.get("")
async def get_my_subscription(user_id: CurrentUserId, uow: UnitOfWorkDep) -> SubscriptionResponse:
    return SubscriptionResponse.of(await subscriptions.get_my_subscription(uow, user_id))


@router.post("", response_model=SubscriptionResponse)
async def change_plan(
    body: ChangePlanRequest,
    user_id: CurrentUserId,
    uow: UnitOfWorkDep,
    stripe: StripeDep,
    once: OncePerKeyDep,
) -> JSONResponse:
    """Subscribe or change plan: a dearer plan starts now and is charged to the default
    payment method; a cheaper one starts at the end of the paid period (`downgradeTo`)."""
    return await _once(
        once,
        user_id,
        body,
        lambda: subscriptions.change_plan(uow, stripe, user_id, body.plan_id),
    )


@router.post("/cancel", response_model=SubscriptionResponse)
async def cancel(
    user_id: CurrentUserId,
    uow: UnitOfWorkDep,
    stripe: StripeDep,
    once: OncePerKeyDep,
) -> JSONResponse:
    """End the paid subscription at the end of its period; the free plan follows."""
    return await _once(
        once,
        user_id,
        None,
        lambda: subscriptions.cancel(uow, stripe, user_id),
    )


@router.post("/resume", response_model=SubscriptionResponse)
async def resume(
    user_id: CurrentUserId,
    uow: UnitOfWorkDep,
    stripe: StripeDep,
    once: OncePerKeyDep,
) -> JSONResponse:
    """Keep a cancelled subscription after all (before its period ends)."""
    return await _once(
        once,
        user_id,
        None,
        lambda: subscriptions.resume(uow, stripe, user_id),
    )
