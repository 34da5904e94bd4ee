"""Signing keys made for the tests, and tokens signed with them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "http://identity.test"
AUDIENCE = "platform"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private_key: Any
    public_jwk: dict[str, Any]


def rsa_key(kid: str) -> SigningKey:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return SigningKey(kid, "RS256", private_key, {**jwk, "kid": kid, "alg": "RS256", "use": "sig"})


def ec_key(kid: str) -> SigningKey:
    private_key = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return SigningKey(kid, "ES256", private_key, {**jwk, "kid": kid, "alg": "ES256", "use": "sig"})


def ed25519_key(kid: str) -> SigningKey:
    private_key = ed25519.Ed25519PrivateKey.generate()
    jwk = OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return SigningKey(kid, "EdDSA", private_key, {**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"})


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "user-1",
        "email": "ada@example.com",
        "roles": ["USER"],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def sign(key: SigningKey, payload: dict[str, Any], *, kid: str | None = None) -> str:
    return jwt.encode(
        payload, key.private_key, algorithm=key.algorithm, headers={"kid": kid or key.kid}
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(payload: dict[str, Any], kid: str) -> str:
    """A token claiming `alg: none`."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    return f"{header}.{_b64(json.dumps(payload).encode())}."


def hs256_token(payload: dict[str, Any], kid: str, secret: bytes) -> str:
    """An HMAC token (the classic confusion: the public key used as the HMAC secret)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    signing_input = f"{header}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"
