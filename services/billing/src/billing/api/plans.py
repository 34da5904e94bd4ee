"""The plans on offer: GET /api/v1/plans (public)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from billing.api.schemas import Page, PlanResponse
from billing.domain import subscriptions
from lib_runtime.dependencies import UnitOfWorkDep
from lib_web.problems import BadRequestError

router = APIRouter(prefix="/api/v1/plans", tags=["plans"])


@router.get("")
async def list_plans(
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=16)] = None,
) -> Page[PlanResponse]:
    """Active plans, cheapest first (in their display order)."""
    after = None
    if cursor is not None:
        if not cursor.isdigit():
            raise BadRequestError("The cursor is not valid.")
        after = int(cursor)
    plans = await subscriptions.list_plans(uow, limit=limit + 1, after_sort_order=after)
    page = plans[:limit]
    next_cursor = str(page[-1].sort_order) if len(plans) > limit else None
    return Page[PlanResponse](
        items=[PlanResponse.model_validate(p) for p in page], next_cursor=next_cursor
    )
