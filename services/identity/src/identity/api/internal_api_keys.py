"""Internal API key verification for the other services (lib_auth's ApiKeyClient calls it).

Always 200 with an ApiKeyVerification (`valid`, `code`, key id, owner, tier, scopes,
rate-limit state); only our services may call it, never with an end-user credential.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from identity.api.dependencies import ApiKeyVerifierDep
from lib_auth import (
    API_KEY_VERIFY_PATH,
    ApiKeyVerification,
    ApiKeyVerifyRequest,
    require_internal_caller,
)
from lib_runtime.dependencies import DatabaseDep

router = APIRouter(tags=["internal"], dependencies=[Depends(require_internal_caller)])


@router.post(API_KEY_VERIFY_PATH, response_model=ApiKeyVerification)
async def verify_api_key(
    body: ApiKeyVerifyRequest, verifier: ApiKeyVerifierDep, database: DatabaseDep
) -> Response:
    verification = await verifier.verify(database.engine, body.key, body.required_scopes)
    # Serialised here, once: the hot path skips FastAPI's response validation.
    return Response(verification.model_dump_json(by_alias=True), media_type="application/json")
