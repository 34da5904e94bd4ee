"""Everything the account use cases need to handle credentials, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from identity.config import IdentitySettings
from identity.credentials.access_tokens import AccessTokenIssuer
from identity.credentials.opaque_tokens import TokenDigester
from identity.credentials.passwords import PasswordHasher
from identity.credentials.signing_keys import SigningKeyRing


@dataclass(frozen=True, slots=True)
class CredentialKit:
    passwords: PasswordHasher
    signing_keys: SigningKeyRing
    access_tokens: AccessTokenIssuer
    token_digester: TokenDigester
    refresh_token_ttl_s: int

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> CredentialKit:
        keys = SigningKeyRing.from_pems(settings.signing_key_pems(), settings.jwt_active_kid)
        return cls(
            passwords=PasswordHasher(),
            signing_keys=keys,
            access_tokens=AccessTokenIssuer(
                keys,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                ttl_s=settings.access_token_ttl_s,
            ),
            token_digester=TokenDigester(settings.token_pepper.get_secret_value()),
            refresh_token_ttl_s=settings.refresh_token_ttl_s,
        )
