"""Referrals: a code at sign-up opens a PENDING referral, which the referee's email
verification completes exactly once."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from identity.mail.sink import MailSink

from .helpers import PASSWORD, VERIFY_SUBJECT, bearer, mailed_token, register, unique_email


async def _rows(app: FastAPI, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with app.state.database.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


async def test_verifying_the_referee_completes_the_referral_once(
    client: httpx.AsyncClient, identity_app: FastAPI, mail_sink: MailSink
) -> None:
    referrer = await register(client)
    code = referrer["user"]["referralCode"]
    email = unique_email("referee")
    referee = await register(client, email, referralCode=code)
    assert referee["user"]["referredById"] == referrer["user"]["id"]

    listed = await client.get("/api/v1/users/me/referrals", headers=bearer(referrer))
    assert listed.status_code == 200, listed.text
    [entry] = listed.json()["items"]
    assert entry["status"] == "PENDING"
    assert entry["completedAt"] is None
    assert entry["refereeEmail"] == f"r***@{email.split('@')[1].lower()}"
    assert email.lower() not in listed.text

    token = await mailed_token(mail_sink, email, VERIFY_SUBJECT)
    assert (
        await client.post("/api/v1/auth/verify-email", json={"token": token})
    ).status_code == 200
    assert (
        await client.post("/api/v1/auth/verify-email", json={"token": token})
    ).status_code == 400

    [entry] = (await client.get("/api/v1/users/me/referrals", headers=bearer(referrer))).json()[
        "items"
    ]
    assert entry["status"] == "COMPLETED"
    assert entry["completedAt"] is not None
    assert entry["tokensGranted"] == 50
    events = await _rows(
        identity_app,
        "SELECT envelope FROM outbox WHERE event_type = 'identity.referral.completed' "
        "AND envelope -> 'data' ->> 'refereeId' = :id",
        id=referee["user"]["id"],
    )
    assert len(events) == 1
    data = events[0]["envelope"]["data"]
    assert data["referrerId"] == referrer["user"]["id"]
    assert data["referralId"] == entry["id"]
    assert data["tokensGranted"] == 50
    me = await client.get("/api/v1/users/me", headers=bearer(referrer))
    assert me.json()["referralCode"] == code
    assert me.json()["referralCount"] == 1
    # The referee's own list is empty: referrals are listed by referrer only.
    mine = await client.get("/api/v1/users/me/referrals", headers=bearer(referee))
    assert mine.json()["items"] == []


async def test_an_unknown_referral_code_is_a_clear_422_and_creates_nobody(
    client: httpx.AsyncClient, identity_app: FastAPI
) -> None:
    email = unique_email("badcode")
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "referralCode": "no-such-code"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "No account has this referral code."
    assert body["errors"][0]["location"] == ["body", "referralCode"]
    assert await _rows(identity_app, "SELECT id FROM users WHERE email = :e", e=email.lower()) == []


async def test_referrals_are_listed_newest_first_in_pages(client: httpx.AsyncClient) -> None:
    referrer = await register(client)
    code = referrer["user"]["referralCode"]
    referees = [(await register(client, referralCode=code))["user"]["id"] for _ in range(3)]
    first = await client.get(
        "/api/v1/users/me/referrals", params={"limit": 2}, headers=bearer(referrer)
    )
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 2 and page["nextCursor"]
    second = (
        await client.get(
            "/api/v1/users/me/referrals",
            params={"limit": 2, "cursor": page["nextCursor"]},
            headers=bearer(referrer),
        )
    ).json()
    assert len(second["items"]) == 1 and second["nextCursor"] is None
    ids = [e["id"] for e in page["items"] + second["items"]]
    assert len(set(ids)) == 3
    assert len(referees) == 3
