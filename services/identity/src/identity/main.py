"""The identity HTTP service: `create_app(settings)` and the `identity-api` command."""

from fastapi import FastAPI

from identity.api import ROUTERS
from identity.config import IdentitySettings
from identity.credentials.kit import CredentialKit
from identity.credentials.local_verifier import LocalJwtVerifier
from identity.credentials.provider_token_cipher import ProviderTokenCipher
from identity.domain.login_throttle import LoginThrottle
from identity.domain.mail_policy import MailPolicy
from identity.events import SUBSCRIPTIONS
from identity.mail.mailer import Mailer
from identity.oidc.sign_in import OidcSignIn
from lib_runtime.app import create_platform_app
from lib_web import run_service


def create_app(settings: IdentitySettings) -> FastAPI:
    app = create_platform_app(settings, routers=ROUTERS, subscriptions=SUBSCRIPTIONS)
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
    return app


def run() -> None:
    run_service(create_app, IdentitySettings())


if __name__ == "__main__":
    run()
