"""Deleting a user who holds one of everything identity keeps: afterwards no identity table
holds their id or email (audit rows stay, anonymised), and the deletion is announced."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from identity.mail.sink import MailSink

from .api_key_helpers import auth_of, create_key, execute, open_trial, rows, trial_key
from .helpers import (
    PASSWORD,
    RESET_SUBJECT,
    VERIFY_SUBJECT,
    bearer,
    identity_rows,
    mailed_token,
    provider_sign_in,
    register,
    unique_email,
)
from .oidc_provider import Login, OidcTestProvider

# Not swept: messages (the outbox keeps published events for a retention period, the inbox
# only event ids), rate counters (keyed by key id, nothing personal, pruned within a day)
# and the audit log, checked on its own below.
_NOT_SWEPT = {"outbox", "inbox", "alembic_version", "api_key_rate_windows", "audit_logs"}


async def _rows_naming(app: FastAPI, *needles: str) -> dict[str, list[str]]:
    """The rows of identity's tables (those swept) whose JSON form contains one of `needles`."""
    found = {
        table: [r for r in rows if any(n in r.lower() for n in needles)]
        for table, rows in (await identity_rows(app)).items()
        if table not in _NOT_SWEPT
    }
    return {table: hits for table, hits in found.items() if hits}


async def test_deleting_a_user_removes_or_anonymises_all_their_identity_data(
    oauth_client: httpx.AsyncClient,
    oauth_app: FastAPI,
    oidc_provider: OidcTestProvider,
    mail_sink: MailSink,
) -> None:
    client, app = oauth_client, oauth_app
    referrer = await register(client)
    referrer_code = (await client.get("/api/v1/users/me", headers=bearer(referrer))).json()[
        "referralCode"
    ]
    email = unique_email("erase")
    grant = await register(client, email, referralCode=referrer_code)
    user_id = grant["user"]["id"]
    headers = bearer(grant)
    # Verified through the mailed link: the referral completes, keys become active.
    token = await mailed_token(mail_sink, email, VERIFY_SUBJECT)
    assert (await client.post("/api/v1/auth/verify-email", json={"token": token})).is_success
    my_code = (await client.get("/api/v1/users/me", headers=headers)).json()["referralCode"]
    referee = await register(client, referralCode=my_code)

    # Sessions (one refreshed, so it has token history), a failed login naming the email.
    second = (
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    ).json()
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refreshToken": second["refreshToken"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    failed = await client.post("/api/v1/auth/login", json={"email": email, "password": "nope!!"})
    assert failed.status_code == 401
    # A linked provider account (a trusted provider links by the verified email).
    linked = await provider_sign_in(
        client, oidc_provider, "trusted-id", Login(subject=f"sub-{uuid.uuid4().hex}", email=email)
    )
    assert linked.status_code == 200 and linked.json()["user"]["id"] == user_id, linked.text
    # A pending password reset token.
    reset = await client.post("/api/v1/auth/password-reset", json={"email": email})
    assert reset.status_code == 202
    await mailed_token(mail_sink, email, RESET_SUBJECT)
    # An API key with usage, a rate window and a plan; a trial with a key.
    owner = {**headers, "user_id": user_id}
    key = await create_key(client, owner)
    verified = await client.post(
        "/internal/api-keys/verify",
        json={"key": key["key"]},
        headers={"X-Internal-Token": "internal-dev-token"},
    )
    assert verified.json()["code"] == "VALID", verified.text
    await execute(
        app,
        "INSERT INTO api_calls (id, api_key_id, endpoint, method, status_code, latency_ms, "
        "created_at) VALUES (:id, :key, '/v1/x', 'GET', 200, 5, now())",
        id=uuid.uuid4().hex,
        key=key["id"],
    )
    await execute(
        app,
        "INSERT INTO plan_subscriptions (subscription_id, user_id, tier, status, api_access, "
        "revision, updated_at) VALUES (:id, :user, 'PRO', 'active', true, 1, now())",
        id=f"sub_{uuid.uuid4().hex}",
        user=user_id,
    )
    workspace = await open_trial(client, owner)
    trial = await trial_key(client, owner, workspace["id"])

    sessions = (await client.get("/api/v1/users/me/sessions", headers=headers)).json()
    accounts = (await client.get("/api/v1/users/me/accounts", headers=headers)).json()
    ids = [user_id, key["id"], workspace["id"], trial["id"]]
    ids += [s["id"] for s in sessions["items"]] + [a["id"] for a in accounts["items"]]
    needles = (email.lower(), *(i.lower() for i in ids))
    before = await _rows_naming(app, *needles)
    # The sweep after the delete can only mean something if the data was there before it.
    assert set(before) == {
        "users",
        "sessions",
        "session_token_history",
        "accounts",
        "verification_tokens",
        "api_keys",
        "api_calls",
        "plan_subscriptions",
        "trial_workspaces",
        "trial_api_keys",
        "referrals",
    }
    assert len(before["referrals"]) == 2  # referred, and referring

    deleted = await client.delete("/api/v1/users/me", headers=headers)
    assert deleted.status_code == 204, deleted.text

    assert await _rows_naming(app, *needles) == {}
    # The audit trail stays, with no way back to the person: no user id, no email; the
    # deletion itself names the (now meaningless) id as its target.
    audit: list[Any] = await rows(
        app,
        "SELECT action, target_id, metadata::text AS metadata FROM audit_logs "
        "WHERE user_id = :id OR target_id = :id OR metadata::text ILIKE :email",
        id=user_id,
        email=f"%{email}%",
    )
    assert [(a["action"], a["target_id"]) for a in audit] == [("USER_DELETED", user_id)]
    failures = await rows(
        app,
        "SELECT 1 FROM audit_logs WHERE action = 'LOGIN_FAILED' AND created_at > now() - "
        "interval '10 minutes' AND user_id IS NULL AND ip_address IS NOT NULL",
    )
    assert failures, "the failed login stays in the log, anonymised"
    # The referee stays, no longer pointing at a deleted referrer.
    me = await client.get("/api/v1/users/me", headers=bearer(referee))
    assert me.status_code == 200
    # Announced: the user, and each live key so caches drop them.
    events = await rows(
        app,
        "SELECT event_type, subject FROM outbox WHERE event_type IN "
        "('identity.user.deleted', 'identity.apikey.revoked') AND subject IN (:u, :k, :t)",
        u=user_id,
        k=key["id"],
        t=trial["id"],
    )
    assert sorted((e["event_type"], e["subject"]) for e in events) == sorted(
        [
            ("identity.user.deleted", user_id),
            ("identity.apikey.revoked", key["id"]),
            ("identity.apikey.revoked", trial["id"]),
        ]
    )
    assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 401
    assert (
        await client.get(f"/api/v1/trials/{workspace['id']}", headers=auth_of(bearer(referrer)))
    ).status_code == 404
