"""Internal API key verification for the other services (lib_auth's ApiKeyClient calls it).

Always 200 with an ApiKeyVerification (`valid`, `code`, key id, owner, tier, scopes,
rate-limit state); only our services may call it, never with an end-user credential.

The hot path of the platform, so it asks FastAPI for nothing but the request: the guard is
awaited and the body validated here, the answer serialised once, without response
validation. The OpenAPI document still describes both bodies.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from identity.domain.api_key_verification import ApiKeyVerifier
from lib_auth import (
    API_KEY_VERIFY_PATH,
    ApiKeyVerification,
    ApiKeyVerifyRequest,
    require_internal_caller,
)
from lib_web.problems import problem_response

router = APIRouter(tags=["internal"])

_REQUEST_SCHEMA = ApiKeyVerifyRequest.model_json_schema(by_alias=True)


@router.post(
    API_KEY_VERIFY_PATH,
    response_model=ApiKeyVerification,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _REQUEST_SCHEMA}},
        }
    },
)
async def verify_api_key(request: Request) -> Response:
    await require_internal_caller(request)
    try:
        body = ApiKeyVerifyRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = [
            {"location": ["body", *e["loc"]], "message": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        return problem_response(
            422, detail="The request is not valid.", instance=request.url.path, errors=errors
        )
    state = request.app.state
    verifier: ApiKeyVerifier = state.api_key_verifier
    verification = await verifier.verify(
        state.counting_pool, body.key, body.required_scopes, body.cost
    )
    return Response(verification.model_dump_json(by_alias=True), media_type="application/json")
