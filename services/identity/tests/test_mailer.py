"""The SMTP mailer against real local SMTP servers: delivery, retry of a temporary refusal,
STARTTLS, and a failure that is logged, never raised into the request that scheduled it."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail-test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_starttls_is_used_when_configured(tmp_path: Path) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    handler = _RefusesFirst()
    handler.attempts = 1  # accept at once
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, tls_context=tls, require_starttls=True), "127.0.0.1", 0
    )
    try:
        port = server.sockets[0].getsockname()[1]
        plain = Mailer(
            SmtpServer("127.0.0.1", port, None, None, starttls=False, timeout_s=5),
            sender="no-reply@example.com",
            app_base_url="https://app.test",
            attempts=1,
        )
        assert await plain.deliver(_mail()) is False  # the server insists on STARTTLS
        secure = Mailer(
            SmtpServer(
                "127.0.0.1", port, None, None, starttls=True, timeout_s=5, ca_file=str(cert_file)
            ),
            sender="no-reply@example.com",
            app_base_url="https://app.test",
            attempts=1,
        )
        assert await secure.deliver(_mail())
    finally:
        server.close()
        await server.wait_closed()
    assert len(handler.accepted) == 1
