"""The signed-in user's trial workspaces and their API keys: /api/v1/trials.

Creating a workspace or a key honours `Idempotency-Key` as the API key routes do (a replay
answers 200 with `Idempotent-Replayed: true`, a key's secret is not shown again).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from identity.api.dependencies import ClientInfoDep, CredentialKitDep, CurrentUser, TrialPolicyDep
from identity.api.idempotency import IdempotencyKey, mark_replay
from identity.api.schemas import (
    IssuedTrialKeyResponse,
    Page,
    TrialCreateRequest,
    TrialKeyCreateRequest,
    TrialKeyResponse,
    TrialResponse,
)
from identity.domain import trials
from identity.models import TrialStatus
from lib_runtime.dependencies import UnitOfWorkDep

router = APIRouter(prefix="/api/v1/trials", tags=["trials"])

Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=512)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_trial(
    body: TrialCreateRequest,
    response: Response,
    me: CurrentUser,
    uow: UnitOfWorkDep,
    policy: TrialPolicyDep,
    idempotency_key: IdempotencyKey = None,
) -> TrialResponse:
    request = trials.NewTrial(
        name=body.name, slug=body.slug, tier=body.tier, expires_at=body.expires_at
    )
    opened = await trials.create_trial(
        uow, policy, me.user_id, request, idempotency_key=idempotency_key
    )
    mark_replay(opened.replayed, response)
    return TrialResponse.of(opened.workspace)


@router.get("")
async def list_trials(
    me: CurrentUser,
    uow: UnitOfWorkDep,
    limit: Limit = 20,
    cursor: Cursor = None,
    trial_status: Annotated[TrialStatus | None, Query(alias="status")] = None,
) -> Page[TrialResponse]:
    page = await trials.list_trials(
        uow, me.user_id, limit=limit, cursor=cursor, status=trial_status
    )
    return Page[TrialResponse](
        items=[TrialResponse.of(w) for w in page.workspaces], next_cursor=page.next_cursor
    )


@router.get("/{workspace_id}")
async def get_trial(workspace_id: str, me: CurrentUser, uow: UnitOfWorkDep) -> TrialResponse:
    return TrialResponse.of(await trials.get_trial(uow, me.user_id, workspace_id))


@router.post("/{workspace_id}/cancel")
async def cancel_trial(workspace_id: str, me: CurrentUser, uow: UnitOfWorkDep) -> TrialResponse:
    """End the trial now; its keys stop verifying at once."""
    return TrialResponse.of(await trials.cancel_trial(uow, me.user_id, workspace_id))


@router.post("/{workspace_id}/api-keys", status_code=status.HTTP_201_CREATED)
async def create_trial_key(
    workspace_id: str,
    body: TrialKeyCreateRequest,
    response: Response,
    me: CurrentUser,
    uow: UnitOfWorkDep,
    kit: CredentialKitDep,
    policy: TrialPolicyDep,
    client: ClientInfoDep,
    idempotency_key: IdempotencyKey = None,
) -> IssuedTrialKeyResponse:
    issued = await trials.create_trial_key(
        uow,
        kit.token_digester,
        policy,
        me.user_id,
        workspace_id,
        body.label,
        client,
        idempotency_key=idempotency_key,
    )
    mark_replay(issued.replayed, response)
    return IssuedTrialKeyResponse.of_issued(issued)


@router.get("/{workspace_id}/api-keys")
async def list_trial_keys(
    workspace_id: str,
    me: CurrentUser,
    uow: UnitOfWorkDep,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[TrialKeyResponse]:
    page = await trials.list_trial_keys(uow, me.user_id, workspace_id, limit=limit, cursor=cursor)
    return Page[TrialKeyResponse](
        items=[TrialKeyResponse.of(k) for k in page.keys], next_cursor=page.next_cursor
    )


@router.post("/{workspace_id}/api-keys/{key_id}/revoke")
async def revoke_trial_key(
    workspace_id: str, key_id: str, me: CurrentUser, uow: UnitOfWorkDep, client: ClientInfoDep
) -> TrialKeyResponse:
    key = await trials.revoke_trial_key(uow, me.user_id, workspace_id, key_id, client)
    return TrialKeyResponse.of(key)
