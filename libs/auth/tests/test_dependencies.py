from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from lib_auth import (
    ApiKeyClient,
    ApiKeyCode,
    ApiKeyPrincipal,
    ApiKeyVerification,
    CurrentPrincipal,
    JwtVerifier,
    OptionalPrincipal,
    Principal,
    RateLimitState,
    Role,
    require_role,
)

from .identity_stub import INTERNAL_TOKEN, JWKS_PATH, IdentityStub
from .keys import AUDIENCE, ISSUER, SigningKey, claims, sign

AdminPrincipal = Annotated[Principal, Depends(require_role(Role.ADMIN))]


def auth_app() -> FastAPI:
    app = FastAPI()

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"userId": principal.user_id}

    @app.get("/maybe")
    async def maybe(principal: OptionalPrincipal) -> dict[str, str | None]:
        return {"userId": principal.user_id if principal else None}

    @app.get("/admin")
    async def admin(principal: AdminPrincipal) -> dict[str, str]:
        return {"userId": principal.user_id}

    @app.get("/data")
    async def data(key: ApiKeyPrincipal) -> dict[str, str | None]:
        return {"ownerId": key.owner_id, "tier": key.tier}

    return app


@pytest.fixture
async def svc(
    identity_url: str,
    identity: IdentityStub,
    rsa_signing_key: SigningKey,
    shared_http: httpx.AsyncClient,
) -> AsyncIterator[httpx.AsyncClient]:
    identity.jwks = [rsa_signing_key.public_jwk]
    app = auth_app()
    async with (
        JwtVerifier(
            identity_url + JWKS_PATH, issuer=ISSUER, audience=AUDIENCE, http=shared_http
        ) as verifier,
        ApiKeyClient(identity_url, INTERNAL_TOKEN, http=shared_http) as api_key_client,
    ):
        app.state.jwt_verifier = verifier
        app.state.api_key_client = api_key_client
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as client:
            yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_missing_bearer_token_is_401_with_challenge(svc: httpx.AsyncClient) -> None:
    response = await svc.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_invalid_bearer_token_is_401_invalid_token(
    svc: httpx.AsyncClient, rsa_signing_key: SigningKey
) -> None:
    token = sign(rsa_signing_key, claims(exp=1))
    response = await svc.get("/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_valid_bearer_token_gives_the_principal(
    svc: httpx.AsyncClient, rsa_signing_key: SigningKey
) -> None:
    response = await svc.get("/me", headers=bearer(sign(rsa_signing_key, claims(sub="u-7"))))
    assert response.status_code == 200
    assert response.json() == {"userId": "u-7"}


async def test_optional_principal(svc: httpx.AsyncClient, rsa_signing_key: SigningKey) -> None:
    assert (await svc.get("/maybe")).json() == {"userId": None}
    response = await svc.get("/maybe", headers=bearer(sign(rsa_signing_key, claims())))
    assert response.json() == {"userId": "user-1"}
    assert (await svc.get("/maybe", headers=bearer("junk"))).status_code == 401


@pytest.mark.parametrize(
    ("roles", "status"), [(["USER"], 403), (["ADMIN"], 200), (["SUPER_ADMIN"], 200)]
)
async def test_require_role(
    svc: httpx.AsyncClient, rsa_signing_key: SigningKey, roles: list[str], status: int
) -> None:
    response = await svc.get("/admin", headers=bearer(sign(rsa_signing_key, claims(roles=roles))))
    assert response.status_code == status


def test_require_role_needs_a_role() -> None:
    with pytest.raises(ValueError):
        require_role()


async def test_api_key_missing_is_401(svc: httpx.AsyncClient) -> None:
    response = await svc.get("/data")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'


async def test_api_key_valid(svc: httpx.AsyncClient, identity: IdentityStub) -> None:
    identity.answers["good"] = ApiKeyVerification(
        valid=True, code=ApiKeyCode.VALID, key_id="k1", owner_id="user-3", tier="FREE"
    )
    response = await svc.get("/data", headers={"X-API-Key": "good"})
    assert response.status_code == 200
    assert response.json() == {"ownerId": "user-3", "tier": "FREE"}


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (ApiKeyCode.NOT_FOUND, 401),
        (ApiKeyCode.REVOKED, 401),
        (ApiKeyCode.EXPIRED, 401),
        (ApiKeyCode.DISABLED, 401),
        (ApiKeyCode.INSUFFICIENT_PERMISSIONS, 403),
        (ApiKeyCode.PENDING_VERIFICATION, 403),
    ],
)
async def test_api_key_refused(
    svc: httpx.AsyncClient, identity: IdentityStub, code: ApiKeyCode, status: int
) -> None:
    identity.answers["bad"] = ApiKeyVerification(valid=False, code=code)
    response = await svc.get("/data", headers={"X-API-Key": "bad"})
    assert response.status_code == status
    assert code.value in response.json()["detail"]


async def test_api_key_rate_limited_is_429_with_retry_after(
    svc: httpx.AsyncClient, identity: IdentityStub
) -> None:
    identity.answers["busy"] = ApiKeyVerification(
        valid=False,
        code=ApiKeyCode.RATE_LIMITED,
        rate_limit=RateLimitState(
            limit=10, remaining=0, reset=datetime.now(UTC) + timedelta(seconds=30)
        ),
    )
    response = await svc.get("/data", headers={"X-API-Key": "busy"})
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 30


async def test_security_schemes_appear_in_openapi(svc: httpx.AsyncClient) -> None:
    schemes = (await svc.get("/openapi.json")).json()["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert schemes["APIKeyHeader"]["name"] == "X-API-Key"
