"""Email verification over HTTP with a real SMTP server: the mail arrives, its link's token
verifies once, activates pending API keys and completes a pending referral."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from identity.config import IdentitySettings
from identity.mail.sink import MailSink
from identity.main import create_app

from .api_key_helpers import verify
from .helpers import VERIFY_SUBJECT, bearer, mailed_token, register, unique_email


async def _rows(app: FastAPI, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with app.state.database.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


async def _scalar(app: FastAPI, sql: str, **params: Any) -> Any:
    async with app.state.database.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def _create_key(client: httpx.AsyncClient, grant: dict[str, Any], name: str) -> Any:
    """A key made through the key route while its owner is still unverified."""
    response = await client.post(
        "/api/v1/api-keys", json={"name": name, "scopes": []}, headers=bearer(grant)
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending_verification"
    return response.json()


async def test_register_mails_a_token_that_verifies_the_email_once(
    client: httpx.AsyncClient, identity_app: FastAPI, mail_sink: MailSink
) -> None:
    email = unique_email("Verify")
    grant = await register(client, email)
    user_id = grant["user"]["id"]
    other = await register(client)
    my_key = await _create_key(client, grant, "mine")
    other_key = await _create_key(client, other, "other")
    assert (await verify(client, my_key["key"]))["code"] == "PENDING_VERIFICATION"

    token = await mailed_token(mail_sink, email, VERIFY_SUBJECT)
    message = mail_sink.to(email)[0]
    assert "http://localhost:3000/verify-email?token=" in message.get_body().get_content()
    # Only the keyed hash is stored.
    stored = await _rows(
        identity_app, "SELECT token FROM verification_tokens WHERE identifier = :e", e=email.lower()
    )
    assert len(stored) == 1 and stored[0]["token"] != token

    verified = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json()["id"] == user_id
    assert verified.json()["emailVerified"] is not None
    assert token not in verified.text

    me = await client.get("/api/v1/users/me", headers=bearer(grant))
    assert me.json()["emailVerified"] == verified.json()["emailVerified"]
    keys = await _rows(
        identity_app,
        "SELECT id, status FROM api_keys WHERE id IN (:a, :b)",
        a=my_key["id"],
        b=other_key["id"],
    )
    assert {k["id"]: k["status"] for k in keys} == {
        my_key["id"]: "active",
        other_key["id"]: "pending_verification",
    }
    # The key made before verification now verifies; the other owner's still waits.
    answer = await verify(client, my_key["key"])
    assert (answer["valid"], answer["code"], answer["keyId"]) == (True, "VALID", my_key["id"])
    assert (await verify(client, other_key["key"]))["code"] == "PENDING_VERIFICATION"
    events = await _rows(
        identity_app,
        "SELECT envelope FROM outbox WHERE subject = :id AND event_type = :t",
        id=user_id,
        t="identity.user.email_verified",
    )
    assert len(events) == 1
    assert events[0]["envelope"]["data"]["email"] == email.lower()
    audit = await _rows(
        identity_app,
        "SELECT ip_address FROM audit_logs WHERE user_id = :id AND action = 'EMAIL_VERIFIED'",
        id=user_id,
    )
    assert len(audit) == 1 and audit[0]["ip_address"]

    # Auth.js adapter case: a verification token used twice returns nothing.
    again = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 400
    assert again.headers["content-type"].startswith("application/problem+json")
    assert token not in again.text
    assert (
        await _scalar(
            identity_app,
            "SELECT count(*) FROM outbox WHERE subject = :id AND event_type = :t",
            id=user_id,
            t="identity.user.email_verified",
        )
        == 1
    )


async def test_an_expired_or_unknown_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, identity_app: FastAPI, mail_sink: MailSink
) -> None:
    email = unique_email("expired")
    grant = await register(client, email)
    token = await mailed_token(mail_sink, email, VERIFY_SUBJECT)
    async with identity_app.state.database.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE verification_tokens SET expires = now() - interval '1 second' "
                "WHERE identifier = :e"
            ),
            {"e": email.lower()},
        )
    expired = await client.post("/api/v1/auth/verify-email", json={"token": token})
    unknown = await client.post("/api/v1/auth/verify-email", json={"token": "x" * 43})
    assert expired.status_code == unknown.status_code == 400
    assert expired.json()["detail"] == unknown.json()["detail"]
    me = await client.get("/api/v1/users/me", headers=bearer(grant))
    assert me.json()["emailVerified"] is None
    assert (
        await _scalar(
            identity_app,
            "SELECT count(*) FROM verification_tokens WHERE identifier = :e",
            e=email.lower(),
        )
        == 1
    )


async def test_verify_email_refuses_extra_fields(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/verify-email", json={"token": "abc", "emailVerified": True}
    )
    assert response.status_code == 422


@pytest.fixture
async def quick_resend_client(
    identity_settings: Callable[..., IdentitySettings], mail_sink: MailSink
) -> AsyncIterator[httpx.AsyncClient]:
    """An app that allows a resend at once, and three verification mails a day."""
    settings = identity_settings(
        smtp_host=mail_sink.host,
        smtp_port=mail_sink.port,
        verification_resend_interval_s=0,
        verification_mails_per_day=3,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as http:
            yield http


async def test_resend_is_rate_limited(client: httpx.AsyncClient) -> None:
    grant = await register(client)
    too_soon = await client.post("/api/v1/auth/verify-email/resend", headers=bearer(grant))
    assert too_soon.status_code == 429
    assert 1 <= int(too_soon.headers["Retry-After"]) <= 60
    assert (await client.post("/api/v1/auth/verify-email/resend")).status_code == 401


async def test_resend_mails_a_new_working_token_up_to_the_daily_limit(
    quick_resend_client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    client = quick_resend_client
    email = unique_email("resend")
    grant = await register(client, email)
    first = await mailed_token(mail_sink, email, VERIFY_SUBJECT)
    for _ in range(2):
        resent = await client.post("/api/v1/auth/verify-email/resend", headers=bearer(grant))
        assert resent.status_code == 202, resent.text
    second = await mailed_token(mail_sink, email, VERIFY_SUBJECT, skip=1)
    await mailed_token(mail_sink, email, VERIFY_SUBJECT, skip=2)
    assert second != first
    over = await client.post("/api/v1/auth/verify-email/resend", headers=bearer(grant))
    assert over.status_code == 429
    assert int(over.headers["Retry-After"]) > 60 * 60  # the oldest of the day must age out

    assert (
        await client.post("/api/v1/auth/verify-email", json={"token": second})
    ).status_code == 200
    # Verified: the other links stop working, and there is nothing more to resend.
    assert (
        await client.post("/api/v1/auth/verify-email", json={"token": first})
    ).status_code == 400
    done = await client.post("/api/v1/auth/verify-email/resend", headers=bearer(grant))
    assert done.status_code == 409


async def test_no_response_of_the_flow_carries_the_token(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    email = unique_email("leak")
    registered = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": "correct horse battery"}
    )
    assert registered.status_code == 201
    token = await mailed_token(mail_sink, email, VERIFY_SUBJECT)
    me = await client.get("/api/v1/users/me", headers=bearer(registered.json()))
    verified = await client.post("/api/v1/auth/verify-email", json={"token": token})
    for response in (registered, me, verified):
        assert token not in response.text


async def test_deleting_the_account_deletes_its_mailed_tokens(
    client: httpx.AsyncClient, identity_app: FastAPI, mail_sink: MailSink
) -> None:
    email = unique_email("gone")
    grant = await register(client, email)
    token = await mailed_token(mail_sink, email, VERIFY_SUBJECT)
    assert (await client.delete("/api/v1/users/me", headers=bearer(grant))).status_code == 204
    count = await _scalar(
        identity_app,
        "SELECT count(*) FROM verification_tokens WHERE identifier = :e",
        e=email.lower(),
    )
    assert count == 0
    assert (
        await client.post("/api/v1/auth/verify-email", json={"token": token})
    ).status_code == 400
