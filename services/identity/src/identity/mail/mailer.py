"""Sending account mails through the configured SMTP server (aiosmtplib).

How a mail leaves, and why this way:

- The use case commits first (the token's keyed hash, the audit row) and only then hands the
  mail back; the route gives it to `Mailer.deliver` as a background task that runs after the
  response. So a mail never announces a token the database does not hold, the HTTP answer never
  waits on SMTP, and a password-reset answer takes the same time whether or not a mail goes.
- The token is never in the database in clear, so no outbox row or worker can send the mail
  later: the one plaintext copy lives in the request's memory until it is sent. SMTP errors
  that may pass are retried a few times with backoff (tenacity).
- If the process dies, or the SMTP server stays away, after the commit and before the mail is
  sent, nothing the user needs is lost: `POST /api/v1/auth/verify-email/resend` mails a fresh
  verification token, and asking for a password reset again mails a fresh reset token (both
  rate-limited). An unsent token just expires and the cleanup job deletes its row.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
import structlog
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from identity.config import IdentitySettings
from identity.mail.messages import TokenMail, compose
from identity.privacy import mask_email

log = structlog.get_logger(__name__)


def _may_pass(error: BaseException) -> bool:
    """Worth trying again: connection trouble or a 4xx reply; a 5xx reply is final."""
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return 400 <= error.code < 500
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(400 <= refused.code < 500 for refused in error.recipients)
    return isinstance(error, aiosmtplib.SMTPException | OSError)


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    timeout_s: float
    ca_file: str | None = None


class Mailer:
    def __init__(
        self,
        server: SmtpServer,
        *,
        sender: str,
        app_base_url: str,
        attempts: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        self._server = server
        self._sender = sender
        self._app_base_url = app_base_url
        self._attempts = attempts
        self._backoff_s = backoff_s

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> Mailer:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return cls(
            SmtpServer(
                host=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=password,
                starttls=settings.smtp_starttls,
                timeout_s=settings.smtp_timeout_s,
                ca_file=settings.smtp_ca_file,
            ),
            sender=settings.mail_from,
            app_base_url=settings.app_base_url,
        )

    async def send(self, message: EmailMessage) -> None:
        """Send one message, retrying errors that may pass; raises the last error."""
        server = self._server
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_may_pass),
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff_s, max=10),
            reraise=True,
        ):
            with attempt:
                await aiosmtplib.send(
                    message,
                    hostname=server.host,
                    port=server.port,
                    username=server.username,
                    password=server.password,
                    start_tls=server.starttls,
                    cert_bundle=server.ca_file,
                    timeout=server.timeout_s,
                )

    async def deliver(self, mail: TokenMail) -> bool:
        """Compose and send `mail`; never raises (it runs after the response): a failure is
        logged, and the user asks again (see the module's docstring)."""
        message = compose(mail, sender=self._sender, app_base_url=self._app_base_url)
        try:
            await self.send(message)
        except Exception as error:
            log.error(
                "mail.not_sent",
                kind=str(mail.kind),
                to=mask_email(mail.to),
                error=type(error).__name__,
            )
            return False
        log.info("mail.sent", kind=str(mail.kind), to=mask_email(mail.to))
        return True
