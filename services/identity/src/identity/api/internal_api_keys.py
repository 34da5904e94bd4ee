"""Internal API key verification for the other services (lib_auth's ApiKeyClient calls it).

Always 200 with an ApiKeyVerification (`valid`, `code`, key id, owner, tier, scopes,
rate-limit state); only our services may call it, never with an end-user credential.

The hot path of the platform: no synchronous dependency (FastAPI would run each in a worker
thread), the answer serialised once, without FastAPI's response validation.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from identity.domain.api_key_verification import ApiKeyVerifier
from lib_auth import (
    API_KEY_VERIFY_PATH,
    ApiKeyVerification,
    ApiKeyVerifyRequest,
    require_internal_caller,
)

router = APIRouter(tags=["internal"], dependencies=[Depends(require_internal_caller)])


@router.post(API_KEY_VERIFY_PATH, response_model=ApiKeyVerification)
async def verify_api_key(body: ApiKeyVerifyRequest, request: Request) -> Response:
    state = request.app.state
    verifier: ApiKeyVerifier = state.api_key_verifier
    verification = await verifier.verify(
        state.counting_pool, body.key, body.required_scopes, body.cost
    )
    return Response(verification.model_dump_json(by_alias=True), media_type="application/json")
