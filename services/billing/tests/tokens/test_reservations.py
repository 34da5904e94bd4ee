"""Reservations: idempotent on the job id, held tokens leave the spendable balance, committed
or released once by content's events (also out of order), released after the timeout, and
refused past the daily quota with its reset time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe
from sqlalchemy import text

from billing.domain import quotas, reservations
from billing.domain.errors import DailyQuotaExceededError
from billing.events import build_subscriptions
from billing.jobs import JOBS
from billing.models import utc_now
from content.config import ContentSettings
from lib_contracts.content import GenerationCompleted, GenerationFailed
from lib_database import Database, UnitOfWork
from lib_messaging.worker import EventWorker

from ..helpers import bearer, wait_until
from .conftest import TokensApp
from .helpers import assert_ledger_consistent, balance_row, user_with_tokens


async def _reserve(app: TokensApp, user_id: str, job_id: str, amount: int) -> Any:
    return await app.http.post(
        "/internal/tokens/reservations",
        json={"jobId": job_id, "userId": user_id, "amount": amount, "source": "generation"},
        headers=app.internal,
    )


async def _commit(app: TokensApp, reservation_id: str, job_id: str) -> bool:
    async with app.uow() as uow:
        done = await reservations.commit(
            uow.connection, reservation_id=reservation_id, job_id=job_id, metadata={}
        )
        await uow.commit()
    return done


async def _release(app: TokensApp, reservation_id: str, job_id: str, user_id: str) -> bool:
    async with app.uow() as uow:
        done = await reservations.release(
            uow.connection,
            reservation_id=reservation_id,
            job_id=job_id,
            user_id=user_id,
            amount=5,
            source="generation",
        )
        await uow.commit()
    return done


async def _spend_rows(app: TokensApp, user_id: str) -> list[Any]:
    async with app.database.engine.connect() as conn:
        return (
            await conn.execute(
                text(
                    "SELECT amount, source, source_id FROM token_transactions "
                    "WHERE user_id = :u AND type = 'SPEND'"
                ),
                {"u": user_id},
            )
        ).all()


async def test_the_same_job_gets_the_same_reservation_and_a_different_amount_is_409(
    tokens_app: TokensApp,
) -> None:
    user_id = await user_with_tokens(tokens_app.database, 20, now=utc_now())
    job_id = f"job-{uuid.uuid4()}"

    first = await _reserve(tokens_app, user_id, job_id, 5)
    again = await _reserve(tokens_app, user_id, job_id, 5)
    other_amount = await _reserve(tokens_app, user_id, job_id, 6)
    other_user = await _reserve(tokens_app, str(uuid.uuid4()), job_id, 5)

    assert first.status_code == 201, first.text
    assert first.json()["status"] == "HELD"
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert other_amount.status_code == 409
    assert other_amount.headers["content-type"] == "application/problem+json"
    assert other_user.status_code == 409
    row = await balance_row(tokens_app.database, user_id)
    assert (row["balance"], row["reserved"]) == (20, 5)
    balance = await tokens_app.http.get("/api/v1/tokens/balance", headers=bearer(user_id))
    assert (balance.json()["available"], balance.json()["reserved"]) == (15, 5)


async def test_commit_spends_the_held_tokens_once(tokens_app: TokensApp) -> None:
    user_id = await user_with_tokens(tokens_app.database, 20, now=utc_now())
    job_id = f"job-{uuid.uuid4()}"
    reservation = (await _reserve(tokens_app, user_id, job_id, 5)).json()

    assert await _commit(tokens_app, reservation["id"], job_id) is True
    assert await _commit(tokens_app, reservation["id"], job_id) is False  # completed twice
    assert await _release(tokens_app, reservation["id"], job_id, user_id) is False  # too late

    row = await balance_row(tokens_app.database, user_id)
    assert (row["balance"], row["reserved"]) == (15, 0)
    assert await _spend_rows(tokens_app, user_id) == [(-5, "reservation", reservation["id"])]
    again = await _reserve(tokens_app, user_id, job_id, 5)
    assert (again.status_code, again.json()["status"]) == (200, "COMMITTED")
    await assert_ledger_consistent(tokens_app.database, [user_id])


async def test_release_gives_the_tokens_and_the_quota_back_once(tokens_app: TokensApp) -> None:
    user_id = await user_with_tokens(tokens_app.database, 20, now=utc_now())
    job_id = f"job-{uuid.uuid4()}"
    reservation = (await _reserve(tokens_app, user_id, job_id, 5)).json()
    quota = (await tokens_app.http.get("/api/v1/quota", headers=bearer(user_id))).json()
    assert quota["used"] == 1

    assert await _release(tokens_app, reservation["id"], job_id, user_id) is True
    assert await _release(tokens_app, reservation["id"], job_id, user_id) is False
    assert await _commit(tokens_app, reservation["id"], job_id) is False  # released first

    row = await balance_row(tokens_app.database, user_id)
    assert (row["balance"], row["reserved"]) == (20, 0)
    assert await _spend_rows(tokens_app, user_id) == []
    quota = (await tokens_app.http.get("/api/v1/quota", headers=bearer(user_id))).json()
    assert quota["used"] == 0
    await assert_ledger_consistent(tokens_app.database, [user_id])


async def test_a_failure_before_the_reservation_leaves_a_late_reserve_holding_nothing(
    tokens_app: TokensApp,
) -> None:
    user_id = await user_with_tokens(tokens_app.database, 20, now=utc_now())
    job_id = f"job-{uuid.uuid4()}"
    reservation_id = str(uuid.uuid4())

    assert await _release(tokens_app, reservation_id, job_id, user_id) is False
    late = await _reserve(tokens_app, user_id, job_id, 5)

    assert late.status_code == 200
    assert (late.json()["id"], late.json()["status"]) == (reservation_id, "RELEASED")
    row = await balance_row(tokens_app.database, user_id)
    assert (row["balance"], row["reserved"]) == (20, 0)


async def test_a_completion_before_the_reservation_is_retried_until_it_exists(
    tokens_app: TokensApp,
) -> None:
    user_id = await user_with_tokens(tokens_app.database, 20, now=utc_now())
    job_id = f"job-{uuid.uuid4()}"
    with pytest.raises(reservations.ReservationNotFoundYetError):
        await _commit(tokens_app, str(uuid.uuid4()), job_id)

    reservation = (await _reserve(tokens_app, user_id, job_id, 5)).json()
    # The retried event names the job; content learnt no reservation id for it.
    assert await _commit(tokens_app, str(uuid.uuid4()), job_id) is True
    assert await _spend_rows(tokens_app, user_id) == [(-5, "reservation", reservation["id"])]


async def test_reservations_never_confirmed_are_released_after_the_timeout(
    tokens_app: TokensApp,
) -> None:
    user_id = await user_with_tokens(tokens_app.database, 20, now=utc_now())
    job_id = f"job-{uuid.uuid4()}"
    reservation = (await _reserve(tokens_app, user_id, job_id, 7)).json()
    deadline = datetime.fromisoformat(reservation["expiresAt"])
    timeout = timedelta(seconds=tokens_app.settings.reservation_timeout_s)
    assert timedelta(0) < deadline - utc_now() <= timeout

    await reservations.release_expired(tokens_app.uow(), now=deadline - timedelta(seconds=1))
    assert (await balance_row(tokens_app.database, user_id))["reserved"] == 7

    await reservations.release_expired(tokens_app.uow(), now=deadline + timedelta(seconds=1))
    await reservations.release_expired(tokens_app.uow(), now=deadline + timedelta(seconds=2))

    row = await balance_row(tokens_app.database, user_id)
    assert (row["balance"], row["reserved"]) == (20, 0)
    again = await _reserve(tokens_app, user_id, job_id, 7)
    assert again.json()["status"] == "RELEASED"
    await assert_ledger_consistent(tokens_app.database, [user_id])


async def test_reserving_past_the_daily_quota_is_429_with_the_reset_time(
    tokens_app: TokensApp,
) -> None:
    tokens_app.settings.daily_generation_limits["FREE"] = 2
    user_id = await user_with_tokens(tokens_app.database, 20, now=utc_now())
    for job in range(2):
        assert (await _reserve(tokens_app, user_id, f"{user_id}-{job}", 1)).status_code == 201

    refused = await _reserve(tokens_app, user_id, f"{user_id}-2", 1)

    assert refused.status_code == 429
    body = refused.json()
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    assert datetime.fromisoformat(body["resetsAt"]) == datetime(
        tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC
    )
    assert int(refused.headers["Retry-After"]) > 0
    assert (await balance_row(tokens_app.database, user_id))["reserved"] == 2
    quota = (await tokens_app.http.get("/api/v1/quota", headers=bearer(user_id))).json()
    assert (quota["used"], quota["limit"], quota["remaining"]) == (2, 2, 0)
    assert quota["resetsAt"] == body["resetsAt"]


async def test_tomorrow_the_quota_starts_again(tokens_app: TokensApp) -> None:
    user_id = await user_with_tokens(tokens_app.database, 20, now=utc_now())
    today = utc_now()
    async with tokens_app.uow() as uow:
        await quotas.use_one(uow.connection, user_id, {"FREE": 1}, now=today)
        with pytest.raises(DailyQuotaExceededError):
            await quotas.use_one(uow.connection, user_id, {"FREE": 1}, now=today)
    async with tokens_app.uow() as uow:
        await quotas.use_one(uow.connection, user_id, {"FREE": 1}, now=today)
        await quotas.use_one(uow.connection, user_id, {"FREE": 1}, now=today + timedelta(days=1))


async def test_internal_reservations_refuse_users_and_strangers(tokens_app: TokensApp) -> None:
    user_id = await user_with_tokens(tokens_app.database, 20, now=utc_now())
    body = {"jobId": f"job-{uuid.uuid4()}", "userId": user_id, "amount": 1}
    as_user = await tokens_app.http.post(
        "/internal/tokens/reservations",
        json=body,
        headers={**tokens_app.internal, **bearer(user_id)},
    )
    stranger = await tokens_app.http.post(
        "/internal/tokens/reservations", json=body, headers={"X-Internal-Token": "guess"}
    )
    assert (as_user.status_code, stranger.status_code) == (403, 403)
    assert (await balance_row(tokens_app.database, user_id))["reserved"] == 0


# -- over the broker ------------------------------------------------------------------------


@pytest.fixture
async def content_and_billing_workers(
    tokens_app: TokensApp,
    service_settings: Callable[..., Any],
    migrate_service: Callable[[str], None],
) -> AsyncIterator[Database]:
    """Content's outbox relay (what content runs) and billing's generation consumers."""
    migrate_service("content")
    content_settings: ContentSettings = service_settings(ContentSettings)
    content_database = Database.from_settings(content_settings)
    unused_stripe = stripe.StripeClient(
        "sk_test_unused", base_addresses={"api": "http://0.0.0.0:9"}
    )
    generations = [
        s for s in build_subscriptions(lambda: unused_stripe) if s.group == "generations"
    ]
    billing_worker = EventWorker(
        tokens_app.settings,
        tokens_app.database.engine,
        generations,
        tokens_app.uow,
    )
    content_relay = EventWorker(
        content_settings,
        content_database.engine,
        [],
        lambda: UnitOfWork(content_database, source="content"),
    )
    await billing_worker.start()
    await content_relay.start()
    try:
        yield content_database
    finally:
        await content_relay.stop()
        await billing_worker.stop()
        await content_database.dispose()


async def test_content_events_commit_and_release_reservations_over_the_broker(
    tokens_app: TokensApp, content_and_billing_workers: Database
) -> None:
    content_database = content_and_billing_workers
    user_id = await user_with_tokens(tokens_app.database, 30, now=utc_now())
    done_job, failed_job = f"gen-{uuid.uuid4()}", f"gen-{uuid.uuid4()}"
    done = (await _reserve(tokens_app, user_id, done_job, 10)).json()
    failed = (await _reserve(tokens_app, user_id, failed_job, 8)).json()

    async with UnitOfWork(content_database, source="content") as uow:
        for _ in range(2):  # delivered twice, as a retrying producer might
            uow.emit(
                GenerationCompleted(
                    generation_id=done_job,
                    kind="generation",
                    user_id=user_id,
                    reservation_id=done["id"],
                    tokens_reserved=10,
                    completed_at=utc_now(),
                ),
                subject=done_job,
            )
        uow.emit(
            GenerationFailed(
                generation_id=failed_job,
                kind="generation",
                user_id=user_id,
                reservation_id=failed["id"],
                tokens_reserved=8,
                error_code="MODEL_ERROR",
                failed_at=utc_now(),
            ),
            subject=failed_job,
        )
        await uow.commit()

    async def settled() -> bool:
        row = await balance_row(tokens_app.database, user_id)
        return (row["balance"], row["reserved"]) == (20, 0)

    await wait_until(settled, what="the reservations committed and released")
    assert await _spend_rows(tokens_app, user_id) == [(-10, "reservation", done["id"])]
    await assert_ledger_consistent(tokens_app.database, [user_id])


async def test_the_scheduled_job_releases_what_has_expired(tokens_app: TokensApp) -> None:
    user_id = await user_with_tokens(tokens_app.database, 20, now=utc_now())
    expired, _ = await reservations.reserve(
        tokens_app.database,
        user_id=user_id,
        job_id=f"job-{uuid.uuid4()}",
        amount=4,
        source="generation",
        daily_limits={},
        hold_for=timedelta(seconds=-1),
    )
    job = next(j for j in JOBS if j.name == "release-expired-reservations")

    assert await job.run(tokens_app.uow) >= 1
    assert await job.run(tokens_app.uow) == 0  # a second run finds nothing left

    row = await balance_row(tokens_app.database, user_id)
    assert (row["balance"], row["reserved"]) == (20, 0)
    late = await _reserve(tokens_app, user_id, expired.job_id, 4)
    assert late.json()["status"] == "RELEASED"


# -- the one-statement reservation under races ------------------------------------------------


async def test_the_same_job_reserved_concurrently_holds_and_counts_once(
    tokens_app: TokensApp,
) -> None:
    user_id = await user_with_tokens(tokens_app.database, 20, now=utc_now())
    job_id = f"job-{uuid.uuid4()}"

    answers = await asyncio.gather(*(_reserve(tokens_app, user_id, job_id, 3) for _ in range(12)))

    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200] * 11 + [201], [answer.text for answer in answers]
    assert len({answer.json()["id"] for answer in answers}) == 1
    row = await balance_row(tokens_app.database, user_id)
    assert (row["balance"], row["reserved"]) == (20, 3)
    quota = (await tokens_app.http.get("/api/v1/quota", headers=bearer(user_id))).json()
    assert quota["used"] == 1


async def test_concurrent_reservations_never_pass_the_daily_quota(tokens_app: TokensApp) -> None:
    tokens_app.settings.daily_generation_limits["FREE"] = 3
    user_id = await user_with_tokens(tokens_app.database, 100, now=utc_now())

    answers = await asyncio.gather(
        *(_reserve(tokens_app, user_id, f"{user_id}-{job}", 2) for job in range(15))
    )

    codes = sorted(answer.status_code for answer in answers)
    assert codes == [201] * 3 + [429] * 12, [answer.text for answer in answers]
    assert all(a.json()["limit"] == 3 for a in answers if a.status_code == 429)
    row = await balance_row(tokens_app.database, user_id)
    assert (row["balance"], row["reserved"]) == (100, 6)
    quota = (await tokens_app.http.get("/api/v1/quota", headers=bearer(user_id))).json()
    assert (quota["used"], quota["remaining"]) == (3, 0)


async def test_a_refused_reservation_changes_nothing(tokens_app: TokensApp) -> None:
    user_id = await user_with_tokens(tokens_app.database, 4, now=utc_now())

    too_many = await _reserve(tokens_app, user_id, f"job-{uuid.uuid4()}", 5)
    no_balance = await _reserve(tokens_app, str(uuid.uuid4()), f"job-{uuid.uuid4()}", 1)

    assert too_many.status_code == 402
    assert (too_many.json()["required"], too_many.json()["available"]) == (5, 4)
    assert no_balance.status_code == 404
    row = await balance_row(tokens_app.database, user_id)
    assert (row["balance"], row["reserved"]) == (4, 0)
    quota = (await tokens_app.http.get("/api/v1/quota", headers=bearer(user_id))).json()
    assert quota["used"] == 0


async def test_the_commit_posts_one_spend_row_with_its_balance_after(
    tokens_app: TokensApp,
) -> None:
    user_id = await user_with_tokens(tokens_app.database, 20, now=utc_now())
    job_id = f"job-{uuid.uuid4()}"
    reservation = (await _reserve(tokens_app, user_id, job_id, 6)).json()

    async with tokens_app.uow() as uow:
        assert await reservations.commit(
            uow.connection, reservation_id=reservation["id"], job_id=job_id, metadata={"k": 1}
        )
        await uow.commit()

    async with tokens_app.database.engine.connect() as conn:
        spend = (
            await conn.execute(
                text(
                    "SELECT amount, balance_after, metadata, source_id FROM token_transactions "
                    "WHERE user_id = :u AND type = 'SPEND'"
                ),
                {"u": user_id},
            )
        ).one()
    assert tuple(spend) == (-6, 14, {"jobId": job_id, "k": 1}, reservation["id"])
    row = await balance_row(tokens_app.database, user_id)
    assert (row["balance"], row["reserved"]) == (14, 0)
    await assert_ledger_consistent(tokens_app.database, [user_id])
