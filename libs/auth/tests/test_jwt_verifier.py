import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lib_auth import AuthError, JwksUnavailableError, JwtVerifier

from .identity_stub import JWKS_PATH, IdentityStub
from .keys import (
    AUDIENCE,
    ISSUER,
    SigningKey,
    claims,
    hs256_token,
    rsa_key,
    sign,
    unsigned_token,
)


@pytest.fixture
def publish(
    identity: IdentityStub,
    rsa_signing_key: SigningKey,
    ec_signing_key: SigningKey,
    ed25519_signing_key: SigningKey,
) -> None:
    identity.jwks = [k.public_jwk for k in (rsa_signing_key, ec_signing_key, ed25519_signing_key)]


@pytest.fixture
async def verifier(
    identity_url: str, publish: None, shared_http: httpx.AsyncClient
) -> AsyncIterator[JwtVerifier]:
    async with JwtVerifier(
        identity_url + JWKS_PATH,
        issuer=ISSUER,
        audience=AUDIENCE,
        min_refetch_interval_s=60,
        http=shared_http,
    ) as verifier:
        yield verifier


async def test_valid_token_maps_claims_to_principal(
    verifier: JwtVerifier, rsa_signing_key: SigningKey
) -> None:
    token = sign(
        rsa_signing_key,
        claims(
            sub="user-42",
            roles=["ADMIN"],
            staff_roles=["JOCKEY"],
            scope="bookings:read bookings:write",
            workshop_id="ws-9",
        ),
    )
    principal = await verifier.verify(token)
    assert principal.user_id == "user-42"
    assert principal.email == "ada@example.com"
    assert principal.roles == {"ADMIN"}
    assert principal.staff_roles == {"JOCKEY"}
    assert principal.scopes == {"bookings:read", "bookings:write"}
    assert principal.claims["workshop_id"] == "ws-9"
    assert principal.has_role("USER")  # implied by ADMIN
    assert principal.has_role("JOCKEY")
    assert not principal.has_role("SUPER_ADMIN")
    assert hash(principal) == hash(principal)  # usable as a dict key despite its claims


@pytest.mark.parametrize("key_fixture", ["ec_signing_key", "ed25519_signing_key"])
async def test_ec_and_eddsa_tokens_are_accepted(
    verifier: JwtVerifier, key_fixture: str, request: pytest.FixtureRequest
) -> None:
    key: SigningKey = request.getfixturevalue(key_fixture)
    principal = await verifier.verify(sign(key, claims(roles=None, role="SUPER_ADMIN")))
    assert principal.roles == {"SUPER_ADMIN"}
    assert principal.has_role("ADMIN")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"iss": "http://evil.test"}, "issuer"),
        ({"aud": "another-platform"}, "audience"),
        ({"sub": None}, "invalid"),
        ({"exp": None}, "invalid"),
    ],
)
async def test_unacceptable_claims_are_refused(
    verifier: JwtVerifier, rsa_signing_key: SigningKey, overrides: dict[str, object], reason: str
) -> None:
    with pytest.raises(AuthError, match=reason) as caught:
        await verifier.verify(sign(rsa_signing_key, claims(**overrides)))
    assert caught.value.status_code == 401
    assert caught.value.headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}


async def test_bad_signature_is_refused(verifier: JwtVerifier, rsa_signing_key: SigningKey) -> None:
    impostor = rsa_key(rsa_signing_key.kid)  # same key id, different key
    with pytest.raises(AuthError, match="signature"):
        await verifier.verify(sign(impostor, claims()))


async def test_alg_none_is_refused(verifier: JwtVerifier, rsa_signing_key: SigningKey) -> None:
    with pytest.raises(AuthError, match="algorithm not accepted"):
        await verifier.verify(unsigned_token(claims(), rsa_signing_key.kid))


async def test_hs256_signed_with_the_public_key_is_refused(
    verifier: JwtVerifier, rsa_signing_key: SigningKey
) -> None:
    public_pem = rsa_signing_key.private_key.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(AuthError, match="algorithm not accepted"):
        await verifier.verify(hs256_token(claims(), rsa_signing_key.kid, public_pem))


async def test_algorithm_must_match_the_key(
    verifier: JwtVerifier, rsa_signing_key: SigningKey, ec_signing_key: SigningKey
) -> None:
    # An EC-signed token that names the RSA key.
    with pytest.raises(AuthError, match="does not match"):
        await verifier.verify(sign(ec_signing_key, claims(), kid=rsa_signing_key.kid))


async def test_garbage_is_refused(verifier: JwtVerifier) -> None:
    with pytest.raises(AuthError, match="Malformed"):
        await verifier.verify("not-a-jwt")


async def test_rotation_is_picked_up_with_one_refetch_and_unknown_kids_do_not_hammer(
    verifier: JwtVerifier,
    identity: IdentityStub,
    rsa_signing_key: SigningKey,
    rotated_rsa_signing_key: SigningKey,
) -> None:
    await verifier.verify(sign(rsa_signing_key, claims()))
    assert identity.jwks_hits == 1

    identity.jwks = [rsa_signing_key.public_jwk, rotated_rsa_signing_key.public_jwk]
    principal = await verifier.verify(sign(rotated_rsa_signing_key, claims(sub="rotated")))
    assert principal.user_id == "rotated"
    assert identity.jwks_hits == 2

    # A flood of tokens naming keys nobody published: no more fetches within the interval.
    for n in range(20):
        with pytest.raises(AuthError, match="unknown key"):
            await verifier.verify(sign(rsa_signing_key, claims(), kid=f"made-up-{n}"))
    assert identity.jwks_hits == 2
    await verifier.verify(sign(rsa_signing_key, claims()))
    assert identity.jwks_hits == 2


async def test_unknown_kid_refetches_again_after_the_interval(
    identity: IdentityStub,
    identity_url: str,
    publish: None,
    rsa_signing_key: SigningKey,
    rotated_rsa_signing_key: SigningKey,
) -> None:
    async with JwtVerifier(
        identity_url + JWKS_PATH, issuer=ISSUER, audience=AUDIENCE, min_refetch_interval_s=0.05
    ) as verifier:
        token = sign(rotated_rsa_signing_key, claims())
        with pytest.raises(AuthError, match="unknown key"):
            await verifier.verify(token)
        identity.jwks = [rotated_rsa_signing_key.public_jwk]
        await asyncio.sleep(0.06)
        assert (await verifier.verify(token)).user_id == "user-1"
        assert identity.jwks_hits == 2


async def test_concurrent_verifies_share_one_fetch(
    verifier: JwtVerifier,
    identity: IdentityStub,
    rsa_signing_key: SigningKey,
    ec_signing_key: SigningKey,
) -> None:
    identity.jwks_delay_s = 0.05  # keep the first fetch in flight while the others arrive
    tokens = [sign(rsa_signing_key, claims(sub=f"u{n}")) for n in range(25)]
    tokens += [sign(ec_signing_key, claims(sub=f"e{n}")) for n in range(25)]
    principals = await asyncio.gather(*(verifier.verify(token) for token in tokens))
    assert len({p.user_id for p in principals}) == 50
    assert identity.jwks_hits == 1


async def test_keys_are_refetched_after_the_ttl_and_kept_when_identity_is_down(
    identity: IdentityStub, identity_url: str, publish: None, rsa_signing_key: SigningKey
) -> None:
    async with JwtVerifier(
        identity_url + JWKS_PATH,
        issuer=ISSUER,
        audience=AUDIENCE,
        cache_ttl_s=0.05,
        min_refetch_interval_s=0,
    ) as verifier:
        token = sign(rsa_signing_key, claims())
        await verifier.verify(token)
        await asyncio.sleep(0.06)
        await verifier.verify(token)
        assert identity.jwks_hits == 2

        identity.jwks_broken = True
        await asyncio.sleep(0.06)
        assert (await verifier.verify(token)).user_id == "user-1"  # stale keys still serve
        assert identity.jwks_hits == 3


async def test_no_keys_at_all_is_503(
    identity: IdentityStub, identity_url: str, rsa_signing_key: SigningKey
) -> None:
    identity.jwks_broken = True
    async with JwtVerifier(identity_url + JWKS_PATH, issuer=ISSUER, audience=AUDIENCE) as verifier:
        for _ in range(3):  # the retries within the interval do not reach identity
            with pytest.raises(JwksUnavailableError) as caught:
                await verifier.verify(sign(rsa_signing_key, claims()))
            assert caught.value.status_code == 503
    assert identity.jwks_hits == 1


async def test_symmetric_and_encryption_keys_in_the_jwks_are_ignored(
    identity: IdentityStub, identity_url: str, rsa_signing_key: SigningKey
) -> None:
    identity.jwks = [
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {**rsa_signing_key.public_jwk, "kid": "enc", "use": "enc"},
        rsa_signing_key.public_jwk,
    ]
    async with JwtVerifier(identity_url + JWKS_PATH, issuer=ISSUER, audience=AUDIENCE) as verifier:
        await verifier.verify(sign(rsa_signing_key, claims()))
        with pytest.raises(AuthError, match="unknown key"):
            await verifier.verify(sign(rsa_signing_key, claims(), kid="enc"))


async def test_issuer_and_audience_checks_are_optional(
    identity_url: str, publish: None, rsa_signing_key: SigningKey
) -> None:
    async with JwtVerifier(identity_url + JWKS_PATH, issuer=None, audience=None) as verifier:
        principal = await verifier.verify(sign(rsa_signing_key, claims(iss="x", aud="y")))
    assert principal.user_id == "user-1"
