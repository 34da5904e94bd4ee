from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from .identity_stub import IdentityStub
from .keys import SigningKey, ec_key, ed25519_key, rsa_key
from .local_server import serve


@pytest.fixture(scope="session")
def rsa_signing_key() -> SigningKey:
    return rsa_key("rsa-1")


@pytest.fixture(scope="session")
def rotated_rsa_signing_key() -> SigningKey:
    return rsa_key("rsa-2")


@pytest.fixture(scope="session")
def ec_signing_key() -> SigningKey:
    return ec_key("ec-1")


@pytest.fixture(scope="session")
def ed25519_signing_key() -> SigningKey:
    return ed25519_key("ed-1")


@pytest.fixture(scope="session")
def identity_stub() -> IdentityStub:
    return IdentityStub()


@pytest.fixture(scope="session")
async def identity_server(identity_stub: IdentityStub) -> AsyncIterator[str]:
    async with serve(identity_stub.app) as url:
        yield url


@pytest.fixture
def identity(identity_stub: IdentityStub) -> IdentityStub:
    identity_stub.reset()
    return identity_stub


@pytest.fixture
def identity_url(identity_server: str, identity: IdentityStub) -> str:
    """Base URL of the identity stub, reset for this test."""
    return identity_server


@pytest.fixture(scope="session")
async def shared_http() -> AsyncIterator[httpx.AsyncClient]:
    """One HTTP client for the clients under test (each new one costs ~0.1 s of TLS setup)."""
    async with httpx.AsyncClient(timeout=2.0) as client:
        yield client
