"""Password reset by mail (ends every session) and password change (ends the others), with a
real SMTP server."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from identity.mail.sink import MailSink

from .helpers import PASSWORD, RESET_SUBJECT, bearer, mailed_token, register, unique_email

NEW_PASSWORD = "a brand new passphrase"


async def _rows(app: FastAPI, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with app.state.database.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


def _comparable(response: httpx.Response) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {
        k: v
        for k, v in response.headers.items()
        if k not in ("x-request-id", "date", "content-length")
    }
    return response.status_code, response.json(), headers


async def test_the_reset_answer_is_the_same_for_known_and_unknown_emails(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    email = unique_email("known")
    await register(client, email)
    ghost = unique_email("ghost")
    known = await client.post("/api/v1/auth/password-reset", json={"email": email})
    unknown = await client.post("/api/v1/auth/password-reset", json={"email": ghost})
    assert known.status_code == 202
    assert _comparable(known) == _comparable(unknown)
    await mailed_token(mail_sink, email, RESET_SUBJECT)
    assert mail_sink.to(ghost) == []


async def test_reset_sets_the_password_and_revokes_every_session(
    client: httpx.AsyncClient, identity_app: FastAPI, mail_sink: MailSink
) -> None:
    email = unique_email("reset")
    first = await register(client, email)
    second = (await _login(client, email, PASSWORD)).json()
    responses = [await client.post("/api/v1/auth/password-reset", json={"email": email.upper()})]
    token = await mailed_token(mail_sink, email, RESET_SUBJECT)
    assert "/reset-password?token=" in mail_sink.to(email)[-1].get_body().get_content()

    short = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "newPassword": "short"}
    )
    assert short.status_code == 422
    extra = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "newPassword": NEW_PASSWORD, "role": "ADMIN"},
    )
    assert extra.status_code == 422
    confirmed = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "newPassword": NEW_PASSWORD}
    )
    assert confirmed.status_code == 204, confirmed.text
    responses += [short, extra, confirmed]

    for grant in (first, second):
        refresh = await client.post(
            "/api/v1/auth/refresh", json={"refreshToken": grant["refreshToken"]}
        )
        assert refresh.status_code == 401
        assert (await client.get("/api/v1/users/me", headers=bearer(grant))).status_code == 401
    assert (await _login(client, email, PASSWORD)).status_code == 401
    assert (await _login(client, email, NEW_PASSWORD)).status_code == 200

    # Used once: the same token again is refused and changes nothing.
    again = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "newPassword": PASSWORD}
    )
    assert again.status_code == 400
    responses.append(again)
    assert (await _login(client, email, NEW_PASSWORD)).status_code == 200
    assert all(token not in r.text for r in responses)

    actions = await _rows(
        identity_app,
        "SELECT action, ip_address, metadata FROM audit_logs WHERE user_id = :id "
        "AND action LIKE 'PASSWORD_RESET_%' ORDER BY created_at",
        id=first["user"]["id"],
    )
    assert [a["action"] for a in actions] == [
        "PASSWORD_RESET_REQUESTED",
        "PASSWORD_RESET_COMPLETED",
    ]
    assert all(a["ip_address"] for a in actions)
    assert actions[1]["metadata"] == {"sessionsRevoked": 2}


async def test_a_wrong_or_expired_reset_token_changes_nothing(
    client: httpx.AsyncClient, identity_app: FastAPI, mail_sink: MailSink
) -> None:
    email = unique_email("stale")
    grant = await register(client, email)
    await client.post("/api/v1/auth/password-reset", json={"email": email})
    token = await mailed_token(mail_sink, email, RESET_SUBJECT)
    async with identity_app.state.database.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE verification_tokens SET expires = now() - interval '1 second' "
                "WHERE identifier = :e AND purpose = 'password_reset'"
            ),
            {"e": email.lower()},
        )
    for bad in (token, "not-a-token"):
        response = await client.post(
            "/api/v1/auth/password-reset/confirm", json={"token": bad, "newPassword": NEW_PASSWORD}
        )
        assert response.status_code == 400
    assert (await client.get("/api/v1/users/me", headers=bearer(grant))).status_code == 200
    assert (await _login(client, email, PASSWORD)).status_code == 200


async def test_reset_mails_are_capped_per_hour_without_a_different_answer(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    email = unique_email("flood")
    await register(client, email)
    answers = [
        _comparable(await client.post("/api/v1/auth/password-reset", json={"email": email}))
        for _ in range(4)
    ]
    assert all(answer == answers[0] for answer in answers)
    await mailed_token(mail_sink, email, RESET_SUBJECT, skip=2)
    assert len([m for m in mail_sink.to(email) if m["Subject"] == RESET_SUBJECT]) == 3


async def test_change_password_keeps_this_session_and_revokes_the_others(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    email = unique_email("change")
    current = await register(client, email)
    other = (await _login(client, email, PASSWORD)).json()

    extra = await client.post(
        "/api/v1/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "role": "ADMIN"},
        headers=bearer(current),
    )
    assert extra.status_code == 422
    wrong = await client.post(
        "/api/v1/users/me/password",
        json={"currentPassword": "not my password", "newPassword": NEW_PASSWORD},
        headers=bearer(current),
    )
    assert wrong.status_code == 400
    changed = await client.post(
        "/api/v1/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        headers=bearer(current),
    )
    assert changed.status_code == 204, changed.text

    assert (await client.get("/api/v1/users/me", headers=bearer(current))).status_code == 200
    kept = await client.post("/api/v1/auth/refresh", json={"refreshToken": current["refreshToken"]})
    assert kept.status_code == 200
    assert (await client.get("/api/v1/users/me", headers=bearer(other))).status_code == 401
    gone = await client.post("/api/v1/auth/refresh", json={"refreshToken": other["refreshToken"]})
    assert gone.status_code == 401
    assert (await _login(client, email, PASSWORD)).status_code == 401
    assert (await _login(client, email, NEW_PASSWORD)).status_code == 200

    audit = await _rows(
        identity_app,
        "SELECT action, metadata, ip_address FROM audit_logs WHERE user_id = :id "
        "AND action IN ('PASSWORD_CHANGED', 'LOGIN_FAILED') ORDER BY created_at",
        id=current["user"]["id"],
    )
    assert [a["action"] for a in audit] == ["LOGIN_FAILED", "PASSWORD_CHANGED", "LOGIN_FAILED"]
    assert audit[0]["metadata"]["reason"] == "password_change"
    assert audit[1]["metadata"] == {"sessionsRevoked": 1}
    assert all(a["ip_address"] for a in audit)


async def test_change_password_needs_a_session(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
    )
    assert response.status_code == 401
