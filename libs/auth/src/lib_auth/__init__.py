"""Authentication shared by every service: access tokens, roles, API keys, internal calls."""

from .api_keys import (
    API_KEY_VERIFY_PATH,
    ApiKeyClient,
    ApiKeyCode,
    ApiKeyVerification,
    ApiKeyVerifyRequest,
    RateLimitState,
    api_key_digest,
)
from .dependencies import (
    ApiKeyPrincipal,
    CurrentPrincipal,
    OptionalPrincipal,
    api_key_scheme,
    bearer_scheme,
    optional_principal,
    require_api_key,
    require_principal,
    require_role,
)
from .errors import ApiKeyServiceError, AuthError, JwksUnavailableError
from .internal import (
    API_KEY_HEADER,
    INTERNAL_TOKEN_HEADER,
    internal_auth_headers,
    require_internal_caller,
)
from .jwt_verifier import ASYMMETRIC_ALGORITHMS, JwtVerifier
from .principal import IMPLIED_ROLES, Principal, Role, StaffRole

__all__ = [
    "API_KEY_HEADER",
    "API_KEY_VERIFY_PATH",
    "ASYMMETRIC_ALGORITHMS",
    "IMPLIED_ROLES",
    "INTERNAL_TOKEN_HEADER",
    "ApiKeyClient",
    "ApiKeyCode",
    "ApiKeyPrincipal",
    "ApiKeyServiceError",
    "ApiKeyVerification",
    "ApiKeyVerifyRequest",
    "AuthError",
    "CurrentPrincipal",
    "JwksUnavailableError",
    "JwtVerifier",
    "OptionalPrincipal",
    "Principal",
    "RateLimitState",
    "Role",
    "StaffRole",
    "api_key_digest",
    "api_key_scheme",
    "bearer_scheme",
    "internal_auth_headers",
    "optional_principal",
    "require_api_key",
    "require_internal_caller",
    "require_principal",
    "require_role",
]
