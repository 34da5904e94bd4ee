"""The account mails: a link carrying a single-use token, in plain text.

A `TokenMail` is what a use case hands back after its commit; it holds the only copy of the
token there will ever be (the database keeps its keyed hash), so it lives in memory until sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from enum import StrEnum
from urllib.parse import urlencode


class MailKind(StrEnum):
    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"


# The web app's page that takes the token from the link.
_PAGES = {
    MailKind.EMAIL_VERIFICATION: "/verify-email",
    MailKind.PASSWORD_RESET: "/reset-password",
}


@dataclass(frozen=True, slots=True)
class TokenMail:
    kind: MailKind
    to: str
    # repr=False: a token must not end up in a log line or a traceback.
    token: str = field(repr=False)
    expires_at: datetime


def token_link(app_base_url: str, mail: TokenMail) -> str:
    return f"{app_base_url.rstrip('/')}{_PAGES[mail.kind]}?{urlencode({'token': mail.token})}"


def compose(mail: TokenMail, *, sender: str, app_base_url: str) -> EmailMessage:
    link = token_link(app_base_url, mail)
    expiry = mail.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    if mail.kind is MailKind.EMAIL_VERIFICATION:
        subject = "Confirm your email address"
        text = (
            "Please confirm your email address by opening this link:\n\n"
            f"{link}\n\n"
            f"The link works once and until {expiry}.\n"
            "If you did not create an account, ignore this mail.\n"
        )
    else:
        subject = "Reset your password"
        text = (
            "Someone (hopefully you) asked to reset the password of your account.\n"
            "Choose a new password here:\n\n"
            f"{link}\n\n"
            f"The link works once and until {expiry}; using it signs out every session.\n"
            "If you did not ask for this, ignore this mail: your password stays as it is.\n"
        )
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    message.set_content(text)
    return message
