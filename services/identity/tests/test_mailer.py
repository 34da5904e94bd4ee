"""The SMTP mailer against real local SMTP servers: delivery, retry of a temporary refusal,
and a failure that is logged, never raised into the request that scheduled it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope

from identity.mail.mailer import Mailer, SmtpServer
from identity.mail.messages import MailKind, TokenMail
from identity.mail.sink import MailSink, serve


def _mailer(port: int, **options: Any) -> Mailer:
    server = SmtpServer(
        host="127.0.0.1", port=port, username=None, password=None, starttls=False, timeout_s=5
    )
    return Mailer(
        server,
        sender="Platform <no-reply@example.com>",
        app_base_url="https://app.test/",
        **options,
    )


def _mail(to: str = "ada@example.com") -> TokenMail:
    return TokenMail(
        kind=MailKind.PASSWORD_RESET, to=to, token="tok_123-abc", expires_at=datetime.now(UTC)
    )


async def test_a_mail_is_delivered_with_its_link(mail_sink: MailSink) -> None:
    assert await _mailer(mail_sink.port).deliver(_mail())
    [message] = mail_sink.to("ada@example.com")
    assert message["From"] == "Platform <no-reply@example.com>"
    assert message["Subject"] == "Reset your password"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert "https://app.test/reset-password?token=tok_123-abc" in body.get_content()
    assert "tok_123-abc" not in repr(_mail())  # a token never reaches a log line via repr


class _RefusesFirst:
    """Answers the first DATA with a temporary 451, then accepts."""

    def __init__(self) -> None:
        self.attempts = 0
        self.accepted: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Envelope) -> str:
        self.attempts += 1
        if self.attempts == 1:
            return "451 Try again later"
        content = envelope.content
        self.accepted.append(content if isinstance(content, bytes) else str(content).encode())
        return "250 OK"


async def test_a_temporary_refusal_is_retried() -> None:
    handler = _RefusesFirst()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(handler), "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        assert await _mailer(port, backoff_s=0.01).deliver(_mail())
    finally:
        server.close()
        await server.wait_closed()
    assert handler.attempts == 2
    assert len(handler.accepted) == 1


async def test_an_unreachable_server_is_logged_not_raised() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert await _mailer(port, attempts=2, backoff_s=0.01).deliver(_mail()) is False


async def test_the_dev_sink_serves_until_stopped_and_idles_for_a_real_server() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = asyncio.create_task(serve("127.0.0.1", port))
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        break
    else:
        raise AssertionError("the sink did not listen")
    assert await _mailer(port).deliver(_mail())
    os.kill(os.getpid(), signal.SIGTERM)  # caught by the sink's handler, as under honcho
    await asyncio.wait_for(running, timeout=10)

    idle = asyncio.create_task(serve("smtp.example.com", 587))
    await asyncio.sleep(0.1)
    assert not idle.done()  # no bind attempted, no crash: it waits for the signal
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(idle, timeout=10)
