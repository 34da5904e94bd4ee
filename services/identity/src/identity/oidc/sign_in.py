"""The two legs of a provider sign-in: start it (where to send the browser, and the sealed
flow state), then finish it at the callback (check state, exchange the code with the PKCE
verifier, verify the ID token against the nonce) into a ProviderIdentity."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

import structlog

from identity.config import IdentitySettings
from identity.credentials.provider_token_cipher import ProviderTokenCipher
from identity.domain.provider_accounts import ProviderIdentity
from identity.domain.provider_tokens import StoredTokens
from identity.oidc.flow_state import FlowState, InvalidFlowStateError, seal, unseal
from identity.oidc.provider_client import (
    OidcProviderClient,
    ProviderError,
    ProviderUnavailableError,
)
from lib_web.problems import BadRequestError, NotFoundError, ProblemError

log = structlog.get_logger(__name__)


class SignInStateError(BadRequestError):
    def __init__(self) -> None:
        super().__init__(
            "The sign-in state is missing, expired or does not match this callback; "
            "start the sign-in again.",
            title="Invalid sign-in state",
        )


class ProviderRejectedError(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            401, "Unauthorized", "The provider's answer could not be verified; sign in again."
        )


class ProviderUnreachableError(ProblemError):
    def __init__(self) -> None:
        super().__init__(502, "Bad Gateway", "The sign-in provider is not available right now.")


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """The signed-in user (and session) that asked to link a provider account."""

    user_id: str
    session_id: str


@dataclass(frozen=True, slots=True)
class FinishedSignIn:
    identity: ProviderIdentity
    link: LinkRequest | None  # None: a sign-in


@dataclass(frozen=True, slots=True)
class StartedSignIn:
    authorization_url: str
    flow_cookie: str
    max_age_s: int


class OidcSignIn:
    """The configured providers and the settings of their sign-in flows."""

    def __init__(
        self,
        providers: dict[str, OidcProviderClient],
        cipher: ProviderTokenCipher,
        *,
        redirect_base_url: str,
        flow_ttl_s: int,
    ) -> None:
        self._providers = providers
        self._cipher = cipher
        self._redirect_base_url = redirect_base_url
        self.flow_ttl_s = flow_ttl_s

    @classmethod
    def from_settings(cls, settings: IdentitySettings, cipher: ProviderTokenCipher) -> OidcSignIn:
        return cls(
            {p.name: OidcProviderClient(p) for p in settings.oauth_providers},
            cipher,
            redirect_base_url=settings.oauth_redirect_base_url,
            flow_ttl_s=settings.oauth_flow_ttl_s,
        )

    def provider(self, name: str) -> OidcProviderClient:
        found = self._providers.get(name)
        if found is None:
            raise NotFoundError("No such sign-in provider.")
        return found

    def callback_path(self, name: str) -> str:
        return f"/api/v1/auth/oauth/{name}/callback"

    def _redirect_uri(self, name: str, request_base_url: str) -> str:
        base = (self._redirect_base_url or request_base_url).rstrip("/")
        return base + self.callback_path(name)

    async def start(
        self, name: str, *, request_base_url: str, link: LinkRequest | None = None
    ) -> StartedSignIn:
        provider = self.provider(name)
        redirect_uri = self._redirect_uri(name, request_base_url)
        try:
            request = await provider.authorization_request(redirect_uri)
        except ProviderUnavailableError as exc:
            log.warning("oidc.provider_unavailable", provider=name, error=str(exc))
            raise ProviderUnreachableError() from exc
        flow = FlowState(
            provider=name,
            state=request.state,
            nonce=request.nonce,
            code_verifier=request.code_verifier,
            redirect_uri=redirect_uri,
            expires_at=int(time.time()) + self.flow_ttl_s,
            link_user_id=link.user_id if link else None,
            link_session_id=link.session_id if link else None,
        )
        return StartedSignIn(
            authorization_url=request.url,
            flow_cookie=seal(self._cipher, flow),
            max_age_s=self.flow_ttl_s,
        )

    async def finish(
        self,
        name: str,
        *,
        flow_cookie: str | None,
        state: str | None,
        code: str | None,
        error: str | None,
    ) -> FinishedSignIn:
        provider = self.provider(name)
        try:
            flow = unseal(self._cipher, flow_cookie, provider=name)
        except InvalidFlowStateError as exc:
            raise SignInStateError() from exc
        if not state or not hmac.compare_digest(state.encode(), flow.state.encode()):
            raise SignInStateError()
        if error is not None or not code:
            # The user declined, or the provider refused the request.
            raise BadRequestError(
                "The provider did not grant the sign-in.", title="Sign-in not granted"
            )
        try:
            tokens = await provider.exchange_code(
                code=code, redirect_uri=flow.redirect_uri, code_verifier=flow.code_verifier
            )
            if not tokens.id_token:
                raise ProviderError(f"{name}: the token response has no ID token")
            identity = await provider.verify_id_token(
                tokens.id_token, nonce=flow.nonce, access_token=tokens.access_token
            )
        except ProviderUnavailableError as exc:
            log.warning("oidc.provider_unavailable", provider=name, error=str(exc))
            raise ProviderUnreachableError() from exc
        except ProviderError as exc:
            log.warning("oidc.sign_in_rejected", provider=name, error=str(exc))
            raise ProviderRejectedError() from exc
        who = ProviderIdentity(
            provider=name,
            trusted=provider.trusted,
            subject=identity.subject,
            email=identity.email,
            email_verified=identity.email_verified,
            name=identity.name,
            image=identity.picture,
            tokens=StoredTokens(
                access_token=tokens.access_token,
                refresh_token=tokens.refresh_token,
                id_token=tokens.id_token,
            ),
            expires_at=tokens.expires_at,
            token_type=tokens.token_type,
            scope=tokens.scope,
        )
        link = None
        if flow.link_user_id is not None and flow.link_session_id is not None:
            link = LinkRequest(user_id=flow.link_user_id, session_id=flow.link_session_id)
        return FinishedSignIn(identity=who, link=link)
