"""A `pg_dump` of the identity schema holds none of the secrets handed out or received:
provider tokens are encrypted, refresh tokens and API-key and trial-key secrets kept only as
keyed hashes, passwords as argon2 hashes."""

from __future__ import annotations

import asyncio
import base64
import shutil
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import FastAPI

from .api_key_helpers import create_key, open_trial, trial_key, verified_owner
from .helpers import PASSWORD, provider_sign_in, register, unique_email
from .oidc_provider import Login, OidcTestProvider

if TYPE_CHECKING:  # imported for its type only: pytest would try to collect it as a test class
    from lib_testing.plugin import TestDatabase


async def _dump_identity_schema(database: TestDatabase) -> str:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is not installed")
    process = await asyncio.create_subprocess_exec(
        pg_dump,
        "--schema=identity",
        "--no-owner",
        f"--dbname={database.admin_database_url}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


def _forms(secret: str) -> list[str]:
    """The secret as text, and as a bytea or base64 value would show it in a dump."""
    raw = secret.encode()
    return [secret, raw.hex(), base64.b64encode(raw).decode().rstrip("=")]


async def test_a_dump_of_the_schema_holds_no_plaintext_token_or_secret(
    oauth_client: httpx.AsyncClient,
    oidc_provider: OidcTestProvider,
    oauth_app: FastAPI,
    platform_database: TestDatabase,
) -> None:
    signed_in = await provider_sign_in(
        oauth_client,
        oidc_provider,
        "plain-id",
        Login(subject=f"sub-{uuid.uuid4().hex}", email=unique_email("dump")),
    )
    assert signed_in.status_code == 200, signed_in.text
    registered = await register(oauth_client)
    refreshed = await oauth_client.post(
        "/api/v1/auth/refresh", json={"refreshToken": registered["refreshToken"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    owner = await verified_owner(oauth_client, oauth_app)
    api_key = await create_key(oauth_client, owner)
    rotated = await oauth_client.post(
        f"/api/v1/api-keys/{api_key['id']}/rotate",
        headers={"Authorization": owner["Authorization"]},
    )
    assert rotated.status_code in (200, 201), rotated.text
    workspace = await open_trial(oauth_client, owner)
    trial = await trial_key(oauth_client, owner, workspace["id"])

    secrets = [PASSWORD]
    for issued in oidc_provider.issued:
        secrets += [issued.access_token, issued.refresh_token, issued.id_token]
    for grant in (signed_in.json(), registered, refreshed.json()):
        secrets += [grant["refreshToken"], grant["accessToken"]]
    secrets += [api_key["key"], rotated.json()["key"], trial["key"]]
    assert len(oidc_provider.issued) == 1

    dump = await _dump_identity_schema(platform_database)
    assert "COPY identity.accounts" in dump  # the data is there, in whatever form
    assert signed_in.json()["user"]["id"] in dump
    for shown in (api_key, rotated.json(), trial):  # the rows are there, by id and prefix
        assert shown["id"] in dump and shown["keyPrefix"] in dump
    for secret in secrets:
        for form in _forms(secret):
            assert form not in dump, f"a secret appears in the dump ({secret[:12]}...)"
