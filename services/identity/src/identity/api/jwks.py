"""The public keys of identity's access tokens, for every service's local verification."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from identity.api.dependencies import CredentialKitDep

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json")
async def jwks(kit: CredentialKitDep, response: Response) -> dict[str, list[dict[str, Any]]]:
    # Verifiers cache it too and refetch on an unknown kid, so a short max-age is enough.
    response.headers["Cache-Control"] = "public, max-age=300"
    return kit.signing_keys.public_jwks()
