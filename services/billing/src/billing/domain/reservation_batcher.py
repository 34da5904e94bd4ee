"""Concurrent reserve calls coalesced into one statement (group commit).

The internal reservation route is called by many generation jobs at once, and a reservation
is one statement whose fixed cost (round trip, executor start, commit and its WAL flush)
outweighs its per-row work. So calls do not each run it: while one statement runs, the calls
that arrive queue, and the next statement takes all of them (up to `max_batch`). An idle
service runs each call at once, alone; a busy one runs fewer, larger statements. One
statement at a time per process keeps the batches large and never makes two of our own
statements wait for each other's row locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta

from billing.domain.reservations import (
    Reservation,
    ReservationRequest,
    Reserved,
    reserve_many,
)
from lib_database import Database


class ReservationBatcher:
    def __init__(
        self,
        database: Database,
        *,
        daily_limits: Mapping[str, int],
        hold_for: timedelta,
        max_batch: int,
    ) -> None:
        self._database = database
        self._daily_limits = daily_limits
        self._hold_for = hold_for
        self._max_batch = max_batch
        self._pending: list[tuple[ReservationRequest, asyncio.Future[Reserved | Exception]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def reserve(self, request: ReservationRequest) -> tuple[Reservation, bool]:
        """Hold the tokens (`reservations.reserve`'s answer and refusals), sharing a statement
        with the calls that arrive while the previous one runs."""
        answer: asyncio.Future[Reserved | Exception] = asyncio.get_running_loop().create_future()
        self._pending.append((request, answer))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush(), name="reservation-batches")
        outcome = await answer
        if isinstance(outcome, Exception):
            raise outcome
        return outcome.reservation, outcome.created

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = [(r, a) for r, a in self._pending[: self._max_batch] if not a.done()]
                del self._pending[: self._max_batch]
                if batch:
                    await self._run(batch)
        finally:
            self._flushing = None

    async def _run(
        self, batch: list[tuple[ReservationRequest, asyncio.Future[Reserved | Exception]]]
    ) -> None:
        try:
            async with self._database.driver_connection() as driver:
                outcomes = await reserve_many(
                    driver,
                    [request for request, _ in batch],
                    daily_limits=self._daily_limits,
                    hold_for=self._hold_for,
                )
        except Exception as error:  # the database failed them all; each caller sees it
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(error)
            return
        for (_, answer), outcome in zip(batch, outcomes, strict=True):
            if not answer.done():  # a caller that gave up (cancelled) has nobody to answer
                answer.set_result(outcome)

    async def aclose(self) -> None:
        """Let the statement in flight, and the calls queued behind it, finish."""
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
