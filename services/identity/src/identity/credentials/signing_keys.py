"""The keys that sign access tokens: one active, all of them published in the JWKS.

Rotation: add a new key, make it active, and keep the old one configured until the last token
it signed has expired (the access-token TTL); verifiers find every configured kid in the JWKS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

SigningPrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    algorithm: str  # the JWS `alg` this key signs with
    private_key: SigningPrivateKey
    public_jwk: Mapping[str, Any]


def load_signing_key(kid: str, pem: str) -> SigningKey:
    private_key = load_pem_private_key(pem.encode(), password=None)
    public_jwk: dict[str, Any]
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        algorithm = "EdDSA"
        public_jwk = OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    elif isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(
        private_key.curve, ec.SECP256R1
    ):
        algorithm = "ES256"
        public_jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    elif isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size >= 2048:
        algorithm = "RS256"
        public_jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    else:
        raise ValueError(f"signing key {kid!r}: use Ed25519, EC P-256 or RSA >= 2048 bits")
    return SigningKey(
        kid=kid,
        algorithm=algorithm,
        private_key=private_key,
        public_jwk={**public_jwk, "kid": kid, "alg": algorithm, "use": "sig"},
    )


class SigningKeyRing:
    def __init__(self, keys: Mapping[str, SigningKey], active_kid: str) -> None:
        if active_kid not in keys:
            raise ValueError(f"active signing key {active_kid!r} is not configured")
        self._keys = dict(keys)
        self.active = self._keys[active_kid]

    @classmethod
    def from_pems(cls, pems: Mapping[str, str], active_kid: str) -> SigningKeyRing:
        return cls({kid: load_signing_key(kid, pem) for kid, pem in pems.items()}, active_kid)

    def public_jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWKS document: the public half of every configured key, never a private part."""
        return {"keys": [dict(key.public_jwk) for key in self._keys.values()]}

    def verification_keys(self) -> dict[str, jwt.PyJWK]:
        return {kid: jwt.PyJWK(dict(key.public_jwk)) for kid, key in self._keys.items()}
