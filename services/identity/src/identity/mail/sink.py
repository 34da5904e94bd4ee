"""A mail sink: an SMTP server (aiosmtpd) that accepts every mail, logs it and keeps it.

`make dev` runs it as `identity-mail-sink` on the host and port identity sends to
(`IDENTITY_SMTP_HOST` / `IDENTITY_SMTP_PORT`), so a developer reads verification and reset
links in the `mail-sink` log lines. Tests start one on a free port and read what it received.
Never for production: it logs whole mails, tokens included.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import signal
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any, Self

import structlog
from aiosmtpd.smtp import SMTP, Envelope

from identity.config import IdentitySettings
from lib_web import configure_logging

log = structlog.get_logger(__name__)


class _RecordingHandler:
    """aiosmtpd handler: parse, log and keep each mail."""

    def __init__(self, sink: MailSink) -> None:
        self._sink = sink

    # aiosmtpd calls the hook by this name.
    async def handle_DATA(self, server: SMTP, session: Any, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        log.info(
            "mail_sink.received",
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            subject=message["Subject"],
            body=body.get_content() if body is not None else None,
        )
        self._sink.received(message)
        return "250 Message accepted for delivery"


class MailSink:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.messages: list[EmailMessage] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        handler = _RecordingHandler(self)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(handler, hostname="mail-sink"), self.host, self.port
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("mail_sink.listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def received(self, message: EmailMessage) -> None:
        self.messages.append(message)

    def to(self, address: str) -> list[EmailMessage]:
        """Every mail received for `address` (case-insensitive), oldest first."""
        wanted = address.lower()
        return [m for m in self.messages if str(m["To"]).lower() == wanted]

    async def wait_for(
        self, matching: Callable[[EmailMessage], bool], *, timeout_s: float = 10.0
    ) -> EmailMessage:
        """The first received mail that matches, waiting up to `timeout_s` for it."""
        deadline = time.monotonic() + timeout_s
        while (found := next((m for m in self.messages if matching(m)), None)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no matching mail within {timeout_s} s")
            await asyncio.sleep(0.05)
        return found


# Addresses a sink on this machine can listen on; any other SMTP host is a real server.
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"})


async def serve(host: str, port: int) -> None:
    """Run a sink until SIGINT or SIGTERM. When identity is configured to send through a real
    server (a .env of `make dev`), the sink idles instead of failing (which would stop honcho's
    whole stack)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        if host in _LOCAL_HOSTS:
            async with MailSink(host, port):
                await stop.wait()
        else:
            log.info("mail_sink.idle", reason=f"identity sends its mail to {host}")
            await stop.wait()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
    log.info("mail_sink.stopped")


def run() -> None:
    """`identity-mail-sink`: the development mail sink, where identity's settings send mail."""
    settings = IdentitySettings()
    configure_logging(settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings.smtp_host, settings.smtp_port))
