"""The signed-in user's API keys: /api/v1/api-keys.

POSTs that make a key (create, rotate) honour an `Idempotency-Key` header: a retry with the
same key and body answers 200 with the key made the first time and `Idempotent-Replayed:
true`, without the secret (it was shown once and is not kept); the same Idempotency-Key with
another body is 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from identity.api.dependencies import (
    ApiKeyPolicyDep,
    ClientInfoDep,
    CredentialKitDep,
    CurrentUser,
)
from identity.api.idempotency import IdempotencyKey, mark_replay
from identity.api.schemas import (
    ApiKeyCreateRequest,
    ApiKeyResponse,
    ApiKeyUsageResponse,
    IssuedApiKeyResponse,
    Page,
)
from identity.domain import api_key_usage, api_keys
from identity.models import ApiKeyStatus
from lib_runtime.dependencies import UnitOfWorkDep

router = APIRouter(prefix="/api/v1/api-keys", tags=["api-keys"])

MAX_USAGE_DAYS = 90


def _issued(issued: api_keys.IssuedApiKey, response: Response) -> IssuedApiKeyResponse:
    mark_replay(issued.replayed, response)
    return IssuedApiKeyResponse.of_issued(issued)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_api_key(
    body: ApiKeyCreateRequest,
    response: Response,
    me: CurrentUser,
    uow: UnitOfWorkDep,
    kit: CredentialKitDep,
    policy: ApiKeyPolicyDep,
    client: ClientInfoDep,
    idempotency_key: IdempotencyKey = None,
) -> IssuedApiKeyResponse:
    request = api_keys.NewApiKey(name=body.name, scopes=body.scopes, expires_at=body.expires_at)
    issued = await api_keys.create_api_key(
        uow,
        kit.token_digester,
        policy,
        me.user_id,
        request,
        client,
        idempotency_key=idempotency_key,
    )
    return _issued(issued, response)


@router.get("")
async def list_api_keys(
    me: CurrentUser,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    key_status: Annotated[ApiKeyStatus | None, Query(alias="status")] = None,
) -> Page[ApiKeyResponse]:
    page = await api_keys.list_api_keys(
        uow, me.user_id, limit=limit, cursor=cursor, status=key_status
    )
    return Page[ApiKeyResponse](
        items=[ApiKeyResponse.of(k) for k in page.keys], next_cursor=page.next_cursor
    )


@router.get("/{key_id}")
async def get_api_key(key_id: str, me: CurrentUser, uow: UnitOfWorkDep) -> ApiKeyResponse:
    return ApiKeyResponse.of(await api_keys.get_api_key(uow, me.user_id, key_id))


@router.post("/{key_id}/revoke")
async def revoke_api_key(
    key_id: str, me: CurrentUser, uow: UnitOfWorkDep, client: ClientInfoDep
) -> ApiKeyResponse:
    """Revoke at once (revoking a revoked key changes nothing)."""
    return ApiKeyResponse.of(await api_keys.revoke_api_key(uow, me.user_id, key_id, client))


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_api_key(
    key_id: str, me: CurrentUser, uow: UnitOfWorkDep, client: ClientInfoDep
) -> None:
    """The same as revoke: the key's row stays (usage and audit refer to it)."""
    await api_keys.revoke_api_key(uow, me.user_id, key_id, client)


@router.post("/{key_id}/rotate", status_code=status.HTTP_201_CREATED)
async def rotate_api_key(
    key_id: str,
    response: Response,
    me: CurrentUser,
    uow: UnitOfWorkDep,
    kit: CredentialKitDep,
    client: ClientInfoDep,
    idempotency_key: IdempotencyKey = None,
) -> IssuedApiKeyResponse:
    """A new key (new id and secret, same name, scopes and expiry); the old one is revoked
    at once."""
    issued = await api_keys.rotate_api_key(
        uow, kit.token_digester, me.user_id, key_id, client, idempotency_key=idempotency_key
    )
    return _issued(issued, response)


@router.get("/{key_id}/usage")
async def get_api_key_usage(
    key_id: str,
    me: CurrentUser,
    uow: UnitOfWorkDep,
    days: Annotated[int, Query(ge=1, le=MAX_USAGE_DAYS)] = 30,
) -> ApiKeyUsageResponse:
    usage = await api_key_usage.key_usage(uow, me.user_id, key_id, days=days)
    return ApiKeyUsageResponse.of(usage)
