"""The identity HTTP service: `create_app(settings)` and the `identity-api` command."""

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from identity.api import ROUTERS
from identity.config import IdentitySettings
from identity.credentials.kit import CredentialKit
from identity.credentials.local_verifier import LocalJwtVerifier
from identity.credentials.provider_token_cipher import ProviderTokenCipher
from identity.domain.api_key_verification import ApiKeyVerifier, open_counting_pool
from identity.domain.api_keys import ApiKeyPolicy
from identity.domain.login_throttle import LoginThrottle
from identity.domain.mail_policy import MailPolicy
from identity.domain.trials import TrialPolicy
from identity.events import SUBSCRIPTIONS
from identity.mail.mailer import Mailer
from identity.oidc.sign_in import OidcSignIn
from lib_runtime.app import create_platform_app
from lib_web import run_service


def create_app(settings: IdentitySettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def counting_pool(app: FastAPI) -> AsyncIterator[None]:
        app.state.counting_pool = await open_counting_pool(settings)
        try:
            yield
        finally:
            await app.state.counting_pool.close()

    app = create_platform_app(
        settings, routers=ROUTERS, subscriptions=SUBSCRIPTIONS, resources=counting_pool
    )
    # Keys are parsed here, per app, from its settings (never at import).
    kit = CredentialKit.from_settings(settings)
    app.state.credential_kit = kit
    app.state.login_throttle = LoginThrottle.from_settings(settings)
    app.state.mailer = Mailer.from_settings(settings)
    app.state.mail_policy = MailPolicy.from_settings(settings)
    app.state.jwt_verifier = LocalJwtVerifier(
        kit.signing_keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    cipher = ProviderTokenCipher.from_settings(settings)
    app.state.provider_token_cipher = cipher
    app.state.oidc_sign_in = OidcSignIn.from_settings(settings, cipher)
    app.state.api_key_policy = ApiKeyPolicy(
        allowed_scopes=frozenset(settings.api_key_scopes),
        keys_per_user=settings.api_keys_per_user,
    )
    app.state.trial_policy = TrialPolicy(
        trial_days=settings.trial_days,
        max_days=settings.trial_max_days,
        trials_per_user=settings.trials_per_user,
        keys_per_workspace=settings.trial_keys_per_workspace,
    )
    app.state.api_key_verifier = ApiKeyVerifier(
        digester=kit.token_digester,
        rate_limit_for=settings.rate_limit_for,
        trial_key_scopes=tuple(settings.api_key_scopes),
    )
    return app


def run() -> None:
    run_service(create_app, IdentitySettings())


if __name__ == "__main__":
    run()
