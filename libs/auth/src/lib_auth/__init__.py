"""Authentication shared by every service: access tokens, roles, API keys, internal calls."""

from lib_auth.api_keys import (
    API_KEY_VERIFY_PATH,
    MAX_API_KEY_LENGTH,
    ApiKeyClient,
    ApiKeyCode,
    ApiKeyVerification,
    ApiKeyVerifyRequest,
    RateLimitState,
    api_key_digest,
)
from lib_auth.dependencies import (
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
from lib_auth.errors import ApiKeyServiceError, AuthError, JwksUnavailableError
from lib_auth.internal import (
    API_KEY_HEADER,
    INTERNAL_TOKEN_HEADER,
    internal_auth_headers,
    require_internal_caller,
)
from lib_auth.jwt_verifier import ASYMMETRIC_ALGORITHMS, JwtVerifier
from lib_auth.principal import IMPLIED_ROLES, Principal, Role, StaffRole

__all__ = [
    "API_KEY_HEADER",
    "API_KEY_VERIFY_PATH",
    "ASYMMETRIC_ALGORITHMS",
    "IMPLIED_ROLES",
    "INTERNAL_TOKEN_HEADER",
    "MAX_API_KEY_LENGTH",
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
