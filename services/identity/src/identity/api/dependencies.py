"""Dependencies of identity's routes: the credential kit, the caller's client, the current user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from identity.credentials.kit import CredentialKit
from identity.credentials.provider_token_cipher import ProviderTokenCipher
from identity.domain.api_keys import ApiKeyPolicy
from identity.domain.login_throttle import LoginThrottle
from identity.domain.mail_policy import MailPolicy
from identity.domain.sessions import ClientInfo, is_session_active
from identity.domain.trials import TrialPolicy
from identity.mail.mailer import Mailer
from identity.oidc.sign_in import OidcSignIn
from lib_auth import AuthError, CurrentPrincipal, Principal, require_role
from lib_runtime.dependencies import UnitOfWorkDep


# `async def` though they await nothing: FastAPI runs a plain `def` dependency in its thread
# pool, a hop per request that costs more than the work.
async def get_credential_kit(request: Request) -> CredentialKit:
    kit: CredentialKit = request.app.state.credential_kit
    return kit


async def get_login_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


async def get_mailer(request: Request) -> Mailer:
    mailer: Mailer = request.app.state.mailer
    return mailer


async def get_mail_policy(request: Request) -> MailPolicy:
    policy: MailPolicy = request.app.state.mail_policy
    return policy


async def get_provider_token_cipher(request: Request) -> ProviderTokenCipher:
    cipher: ProviderTokenCipher = request.app.state.provider_token_cipher
    return cipher


async def get_oidc_sign_in(request: Request) -> OidcSignIn:
    sign_in: OidcSignIn = request.app.state.oidc_sign_in
    return sign_in


async def get_api_key_policy(request: Request) -> ApiKeyPolicy:
    policy: ApiKeyPolicy = request.app.state.api_key_policy
    return policy


async def get_trial_policy(request: Request) -> TrialPolicy:
    policy: TrialPolicy = request.app.state.trial_policy
    return policy


async def get_client_info(request: Request) -> ClientInfo:
    return ClientInfo(
        ip_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


SESSION_ENDED = "The session of this token has ended."


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    user_id: str
    session_id: str
    principal: Principal


def session_id_of(principal: Principal) -> str:
    session_id = principal.claims.get("sid")
    if not isinstance(session_id, str):
        raise AuthError("Token is not bound to a session.")
    return session_id


async def get_current_user(principal: CurrentPrincipal, uow: UnitOfWorkDep) -> AuthenticatedUser:
    """The caller, if their token's session is still active. Other services only rely on the
    token's short lifetime; identity checks the session so a logout takes effect at once."""
    session_id = session_id_of(principal)
    async with uow:
        active = await is_session_active(
            uow.session, user_id=principal.user_id, session_id=session_id
        )
    if not active:
        raise AuthError(SESSION_ENDED)
    return AuthenticatedUser(user_id=principal.user_id, session_id=session_id, principal=principal)


CurrentUser = Annotated[AuthenticatedUser, Depends(get_current_user)]


async def get_current_admin(
    me: CurrentUser, _admin: Annotated[Principal, Depends(require_role("ADMIN"))]
) -> AuthenticatedUser:
    """The caller, if their session is active and their token holds ADMIN (or SUPER_ADMIN)."""
    return me


CredentialKitDep = Annotated[CredentialKit, Depends(get_credential_kit)]
LoginThrottleDep = Annotated[LoginThrottle, Depends(get_login_throttle)]
ClientInfoDep = Annotated[ClientInfo, Depends(get_client_info)]
MailerDep = Annotated[Mailer, Depends(get_mailer)]
MailPolicyDep = Annotated[MailPolicy, Depends(get_mail_policy)]
CurrentAdmin = Annotated[AuthenticatedUser, Depends(get_current_admin)]
ProviderTokenCipherDep = Annotated[ProviderTokenCipher, Depends(get_provider_token_cipher)]
OidcSignInDep = Annotated[OidcSignIn, Depends(get_oidc_sign_in)]
ApiKeyPolicyDep = Annotated[ApiKeyPolicy, Depends(get_api_key_policy)]
TrialPolicyDep = Annotated[TrialPolicy, Depends(get_trial_policy)]
