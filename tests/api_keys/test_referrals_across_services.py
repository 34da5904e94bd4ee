"""A referral across services, over the real broker: the referee verifies their email through
the mailed link, identity completes the referral and emits `identity.referral.completed`,
billing's consumer credits the referrer once (seed 004's tokensGranted)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from billing.config import BillingSettings
from billing.events import SUBSCRIPTIONS as BILLING_SUBSCRIPTIONS
from identity.config import IdentitySettings
from identity.mail.sink import MailSink
from identity.main import create_app as create_identity_app
from lib_database import Database
from lib_messaging.worker import EventWorker

from .conftest import PASSWORD, start_worker, wait_until

VERIFY_LINK_TOKEN = "verify-email?token="


@pytest.fixture
async def mail_sink() -> AsyncIterator[MailSink]:
    async with MailSink("127.0.0.1", 0) as sink:
        yield sink


@pytest.fixture
async def mailing_identity_app(
    identity_settings: IdentitySettings, mail_sink: MailSink
) -> AsyncIterator[FastAPI]:
    settings = identity_settings.model_copy(
        update={"smtp_host": mail_sink.host, "smtp_port": mail_sink.port}
    )
    app = create_identity_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def _mailed_verify_token(sink: MailSink, email: str) -> str:
    async def arrived() -> bool:
        return bool(sink.to(email))

    await wait_until(arrived, within_s=15, what=f"the verification mail to {email}")
    content = sink.to(email)[0].get_body(preferencelist=("plain",)).get_content()
    return str(content.split(VERIFY_LINK_TOKEN, 1)[1].split()[0])


async def _balance(database: Database, user_id: str) -> Any:
    async with database.engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT balance FROM user_token_balances WHERE user_id = :id"),
                {"id": user_id},
            )
        ).scalar()


async def test_verifying_the_referee_credits_the_referrer_in_billing_once(
    mailing_identity_app: FastAPI,
    identity_worker: Database,
    workers: list[tuple[EventWorker, Database]],
    service_settings: Callable[..., Any],
    mail_sink: MailSink,
) -> None:
    billing_settings: BillingSettings = service_settings(BillingSettings)
    groups = {"users", "referrals"}
    billing = await start_worker(
        workers, billing_settings, [s for s in BILLING_SUBSCRIPTIONS if s.group in groups]
    )
    transport = httpx.ASGITransport(app=mailing_identity_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as identity:
        referrer_email = f"referrer-{uuid.uuid4().hex[:8]}@example.com"
        referrer = (
            await identity.post(
                "/api/v1/auth/register", json={"email": referrer_email, "password": PASSWORD}
            )
        ).json()
        referrer_id = referrer["user"]["id"]
        me = await identity.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {referrer['accessToken']}"}
        )
        code = me.json()["referralCode"]

        async def referrer_has_a_balance() -> bool:
            return await _balance(billing, referrer_id) is not None

        await wait_until(referrer_has_a_balance, within_s=30, what="billing to open a balance")
        opening = await _balance(billing, referrer_id)

        referee_email = f"referee-{uuid.uuid4().hex[:8]}@example.com"
        registered = await identity.post(
            "/api/v1/auth/register",
            json={"email": referee_email, "password": PASSWORD, "referralCode": code},
        )
        assert registered.status_code == 201, registered.text
        token = await _mailed_verify_token(mail_sink, referee_email)
        verified = await identity.post("/api/v1/auth/verify-email", json={"token": token})
        assert verified.status_code == 200, verified.text

    reward = mailing_identity_app.state.settings.referral_reward_tokens
    assert reward > 0

    async def credited() -> bool:
        return await _balance(billing, referrer_id) == opening + reward

    await wait_until(credited, within_s=30, what="billing to credit the referrer")
    async with billing.engine.connect() as conn:
        ledger = (
            await conn.execute(
                text(
                    "SELECT amount FROM token_transactions WHERE user_id = :id "
                    "AND type = 'EARN_REFERRAL'"
                ),
                {"id": referrer_id},
            )
        ).scalars()
        assert list(ledger) == [reward]
