"""Reservations and commits many at a time: one statement answers each request on its own
(created, the same job again, a conflict, a refusal), concurrent calls share statements, and
statements of several processes racing for the same jobs, quota and balances stay correct."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import asyncpg
import pytest

from billing.domain import reservation_batcher, reservations
from billing.domain.errors import (
    DailyQuotaExceededError,
    InsufficientTokensError,
    NoTokenBalanceError,
    ReservationConflictError,
)
from billing.domain.reservation_batcher import ReservationBatcher
from billing.domain.reservations import Completion, ReservationRequest, Reserved, in_rounds
from billing.models import utc_now

from .conftest import TokensApp
from .helpers import assert_ledger_consistent, balance_row, user_with_tokens

HOLD_FOR = timedelta(minutes=10)


@pytest.fixture
async def drivers(tokens_app: TokensApp) -> AsyncIterator[list[asyncpg.Connection]]:
    """Two connections of billing's role: two replicas' statements running at once."""
    url = tokens_app.database.engine.url
    connections = [
        await asyncpg.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            database=url.database,
            server_settings={"search_path": "billing"},
        )
        for _ in range(2)
    ]
    yield connections
    for connection in connections:
        await connection.close()


async def _reserve_many(
    app: TokensApp, driver: asyncpg.Connection, requests: Sequence[ReservationRequest]
) -> list[Reserved | Exception]:
    return await reservations.reserve_many(
        driver, requests, daily_limits=app.settings.daily_generation_limits, hold_for=HOLD_FOR
    )


async def _hold(app: TokensApp, user_id: str, job_id: str) -> reservations.Reservation:
    """Four tokens held for the job, by a reserve call on its own."""
    reservation, _ = await reservations.reserve(
        app.database,
        user_id=user_id,
        job_id=job_id,
        amount=4,
        source=None,
        daily_limits={},
        hold_for=HOLD_FOR,
    )
    return reservation


def test_rounds_keep_users_and_jobs_apart_in_order() -> None:
    items = [("a", 1), ("b", 2), ("a", 3), ("c", 2), ("a", 4), (None, 5), (None, 6)]

    rounds = in_rounds(items, lambda i: i[0], lambda i: i[1])

    assert rounds == [[0, 1, 5, 6], [2, 3], [4]]


async def test_one_statement_answers_each_request_on_its_own(
    tokens_app: TokensApp, drivers: list[asyncpg.Connection]
) -> None:
    tokens_app.settings.daily_generation_limits["FREE"] = 2
    now = utc_now()
    tag = uuid.uuid4().hex
    rich, poor, busy, known = [
        await user_with_tokens(tokens_app.database, n, now=now) for n in (50, 2, 50, 50)
    ]
    stranger = str(uuid.uuid4())
    driver = drivers[0]
    # `busy` has used the day's quota; `known` reserved its job before.
    for job in (f"{tag}-busy-1", f"{tag}-busy-2"):
        await _reserve_many(tokens_app, driver, [ReservationRequest(busy, job, 1, "test")])
    (earlier,) = await _reserve_many(
        tokens_app, driver, [ReservationRequest(known, f"{tag}-known", 3, None)]
    )
    assert isinstance(earlier, Reserved)

    requests = [
        ReservationRequest(rich, f"{tag}-rich-1", 5, "test"),
        ReservationRequest(poor, f"{tag}-poor-1", 3, "test"),
        ReservationRequest(busy, f"{tag}-busy-3", 1, "test"),
        ReservationRequest(known, f"{tag}-known", 3, None),
        ReservationRequest(rich, f"{tag}-known", 4, None),
        ReservationRequest(stranger, f"{tag}-stranger-1", 1, None),
        ReservationRequest(rich, f"{tag}-rich-2", 2, "test"),
    ]
    outcomes = await _reserve_many(tokens_app, driver, requests)

    created, poor_refusal, quota_refusal, again, conflict, no_balance, second = outcomes
    assert isinstance(created, Reserved) and created.created
    assert (created.reservation.user_id, created.reservation.amount) == (rich, 5)
    assert isinstance(poor_refusal, InsufficientTokensError)
    assert isinstance(quota_refusal, DailyQuotaExceededError)
    assert isinstance(again, Reserved) and not again.created
    assert again.reservation.id == earlier.reservation.id
    assert isinstance(conflict, ReservationConflictError)
    assert isinstance(no_balance, NoTokenBalanceError)
    assert isinstance(second, Reserved) and second.created  # rich's second, in a later round
    assert (await balance_row(tokens_app.database, rich))["reserved"] == 7
    assert (await balance_row(tokens_app.database, poor))["reserved"] == 0
    assert (await balance_row(tokens_app.database, busy))["reserved"] == 2
    await assert_ledger_consistent(tokens_app.database, [rich, poor, busy, known])


async def test_concurrent_calls_share_statements_and_each_gets_its_answer(
    tokens_app: TokensApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = [await user_with_tokens(tokens_app.database, 10, now=utc_now()) for _ in range(8)]
    batch_sizes: list[int] = []
    real_reserve_many = reservation_batcher.reserve_many

    async def counting(driver, requests, **kwargs):  # type: ignore[no-untyped-def]
        batch_sizes.append(len(requests))
        return await real_reserve_many(driver, requests, **kwargs)

    monkeypatch.setattr(reservation_batcher, "reserve_many", counting)
    batcher = ReservationBatcher(
        tokens_app.database, daily_limits={}, hold_for=HOLD_FOR, max_batch=16
    )
    # 8 users, 4 jobs each of 3 tokens: the fourth of each user's is refused (10 tokens).
    calls = [
        batcher.reserve(ReservationRequest(user, f"{user}-{job}", 3, None))
        for job in range(4)
        for user in users
    ]

    answers = await asyncio.gather(*calls, return_exceptions=True)
    await batcher.aclose()

    held = [a for a in answers if isinstance(a, tuple)]
    refused = [a for a in answers if isinstance(a, InsufficientTokensError)]
    assert (len(held), len(refused)) == (24, 8), answers
    assert all(created for _, created in held)
    assert sum(batch_sizes) == 32
    assert max(batch_sizes) == 16 and len(batch_sizes) < 32
    for user in users:
        assert (await balance_row(tokens_app.database, user))["reserved"] == 9


async def test_replicas_racing_for_the_same_jobs_hold_each_job_once(
    tokens_app: TokensApp, drivers: list[asyncpg.Connection]
) -> None:
    users = [await user_with_tokens(tokens_app.database, 100, now=utc_now()) for _ in range(6)]
    for attempt in range(10):
        requests = [ReservationRequest(u, f"{u}-{attempt}", 2, None) for u in users]
        # Both replicas get the same jobs, in opposite user orders.
        first, second = await asyncio.gather(
            _reserve_many(tokens_app, drivers[0], requests),
            _reserve_many(tokens_app, drivers[1], list(reversed(requests))),
        )
        pairs = list(zip(first, reversed(second), strict=True))
        for one, other in pairs:
            assert isinstance(one, Reserved) and isinstance(other, Reserved), (one, other)
            assert one.reservation.id == other.reservation.id
            assert one.created != other.created
    for user in users:
        assert (await balance_row(tokens_app.database, user))["reserved"] == 20
    await assert_ledger_consistent(tokens_app.database, users)


async def test_replicas_racing_for_the_last_uses_of_the_quota_never_pass_it(
    tokens_app: TokensApp, drivers: list[asyncpg.Connection]
) -> None:
    tokens_app.settings.daily_generation_limits["FREE"] = 5
    users = [await user_with_tokens(tokens_app.database, 100, now=utc_now()) for _ in range(4)]
    outcomes: list[Reserved | Exception] = []
    for round_ in range(4):
        # asyncpg runs one query per connection at a time: one call per replica per round.
        for answers in await asyncio.gather(
            *(
                _reserve_many(
                    tokens_app,
                    drivers[replica],
                    [ReservationRequest(u, f"{u}-{round_}-{replica}", 1, None) for u in order],
                )
                for replica, order in enumerate((users, list(reversed(users))))
            )
        ):
            outcomes.extend(answers)

    held = [o for o in outcomes if isinstance(o, Reserved)]
    refused = [o for o in outcomes if isinstance(o, DailyQuotaExceededError)]
    assert (len(held), len(refused)) == (20, 12)
    for user in users:
        assert (await balance_row(tokens_app.database, user))["reserved"] == 5


async def test_one_statement_commits_a_batch_and_answers_each_completion(
    tokens_app: TokensApp,
) -> None:
    now = utc_now()
    tag = uuid.uuid4().hex
    alice, bob = [await user_with_tokens(tokens_app.database, 30, now=now) for _ in range(2)]
    held = {}
    for user, job in (
        (alice, f"{tag}-a-1"),
        (alice, f"{tag}-a-2"),
        (bob, f"{tag}-b-1"),
        (bob, f"{tag}-b-2"),
    ):
        held[job] = await _hold(tokens_app, user, job)
    async with tokens_app.uow() as uow:
        await reservations.release(
            uow.connection,
            reservation_id=held[f"{tag}-b-2"].id,
            job_id=f"{tag}-b-2",
            user_id=bob,
            amount=4,
            source=None,
        )
        await uow.commit()

    def completion(job: str, user: str) -> Completion:
        return Completion(held[job].id, job, user, {"job": job})

    async with tokens_app.uow() as uow:
        spent = await reservations.commit_many(
            uow.connection,
            [
                completion(f"{tag}-a-1", alice),
                completion(f"{tag}-a-2", alice),  # the same user: a second round
                completion(f"{tag}-b-1", bob),
                completion(f"{tag}-b-2", bob),  # released before it completed
                completion(f"{tag}-a-1", alice),  # a second copy: nothing more
            ],
        )
        await uow.commit()

    assert spent == [True, True, True, False, False]
    assert (await balance_row(tokens_app.database, alice)) | {"plan_tokens": None} == {
        "balance": 22,
        "reserved": 0,
        "plan_tokens": None,
    }
    assert (await balance_row(tokens_app.database, bob))["balance"] == 26
    await assert_ledger_consistent(tokens_app.database, [alice, bob])


async def test_a_completion_of_an_unknown_reservation_fails_its_batch_for_a_retry(
    tokens_app: TokensApp,
) -> None:
    user = await user_with_tokens(tokens_app.database, 30, now=utc_now())
    reservation = await _hold(tokens_app, user, f"{user}-known")

    with pytest.raises(reservations.ReservationNotFoundYetError):
        async with tokens_app.uow() as uow:
            await reservations.commit_many(
                uow.connection,
                [
                    Completion(reservation.id, f"{user}-known", user, {}),
                    Completion(str(uuid.uuid4()), f"{user}-not-reserved-yet", user, {}),
                ],
            )
            await uow.commit()

    # Nothing of the batch stayed: the consumer applies each event alone next.
    row = await balance_row(tokens_app.database, user)
    assert (row["balance"], row["reserved"]) == (30, 4)


async def test_a_wrong_user_in_an_event_cannot_lose_a_spend(tokens_app: TokensApp) -> None:
    """Two reservations of one user in one statement (the events named different users) would
    move the balance once: the statement's answer shows it and the batch fails instead."""
    user = await user_with_tokens(tokens_app.database, 30, now=utc_now())
    ids = []
    for job in (f"{user}-w-1", f"{user}-w-2"):
        reservation = await _hold(tokens_app, user, job)
        ids.append(reservation.id)

    with pytest.raises(Exception):  # noqa: B017 - any refusal rolls the batch back
        async with tokens_app.uow() as uow:
            await reservations.commit_many(
                uow.connection,
                [
                    Completion(ids[0], f"{user}-w-1", "someone", {}),
                    Completion(ids[1], f"{user}-w-2", "someone-else", {}),
                ],
            )
            await uow.commit()

    row = await balance_row(tokens_app.database, user)
    assert (row["balance"], row["reserved"]) == (30, 8)
    await assert_ledger_consistent(tokens_app.database, [user])
