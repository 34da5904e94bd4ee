"""The API usage recorder: batches through the unit of work, bounded memory, nothing dropped
on a failed write, a last flush on stop."""

from __future__ import annotations

import asyncio
from typing import Any, Self

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request

from lib_auth import ApiKeyCode, ApiKeyVerification
from lib_auth.dependencies import API_KEY_STATE
from lib_contracts.content import ContentApiUsageRecorded
from lib_runtime.api_usage import ApiUsageMiddleware, ApiUsageRecorder


class FakeUnitOfWork:
    """Collects what is emitted and committed; `failing` makes commit raise."""

    def __init__(self, committed: list[Any], failing: list[bool]) -> None:
        self._committed = committed
        self._failing = failing
        self._pending: list[Any] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._pending = []

    def emit(self, payload: Any, *, subject: str) -> None:
        self._pending.append(payload)

    async def commit(self) -> None:
        if self._failing and self._failing[0]:
            raise ConnectionError("database away")
        self._committed.extend(self._pending)
        self._pending = []


def recorder_with(
    committed: list[Any], failing: list[bool] | None = None, **options: Any
) -> ApiUsageRecorder:
    state = failing if failing is not None else [False]
    return ApiUsageRecorder(
        lambda: FakeUnitOfWork(committed, state),  # type: ignore[arg-type,return-value]
        ContentApiUsageRecorded,
        **options,
    )


def record(recorder: ApiUsageRecorder, n: int, *, start: int = 0) -> None:
    for i in range(start, start + n):
        recorder.record(
            api_key_id=f"key-{i % 3}",
            endpoint=f"/api/v1/things/{i}",
            method="GET",
            status_code=200,
            latency_ms=i,
        )


async def test_flush_sends_batches_of_at_most_batch_size_calls() -> None:
    committed: list[Any] = []
    recorder = recorder_with(committed, batch_size=500)
    record(recorder, 1_200)
    assert await recorder.flush() == 1_200
    assert [len(event.calls) for event in committed] == [500, 500, 200]
    assert all(isinstance(event, ContentApiUsageRecorded) for event in committed)
    endpoints = [call.endpoint for event in committed for call in event.calls]
    assert endpoints == [f"/api/v1/things/{i}" for i in range(1_200)]
    assert len({call.call_id for event in committed for call in event.calls}) == 1_200
    assert recorder.buffered == 0


async def test_memory_is_bounded_and_the_oldest_calls_are_dropped() -> None:
    committed: list[Any] = []
    recorder = recorder_with(committed, batch_size=100, max_buffered=1_000)
    record(recorder, 1_500)
    assert (recorder.buffered, recorder.dropped) == (1_000, 500)
    await recorder.flush()
    latencies = [call.latency_ms for event in committed for call in event.calls]
    assert latencies == list(range(500, 1_500))


async def test_a_failed_write_keeps_the_calls_for_the_next_flush() -> None:
    committed: list[Any] = []
    failing = [True]
    recorder = recorder_with(committed, failing, batch_size=10)
    record(recorder, 25)
    with pytest.raises(ConnectionError):
        await recorder.flush()
    assert recorder.buffered == 25 and committed == []
    failing[0] = False
    assert await recorder.flush() == 25
    assert [c.latency_ms for e in committed for c in e.calls] == list(range(25))


async def test_the_background_task_flushes_periodically_and_stop_flushes_the_rest() -> None:
    committed: list[Any] = []
    recorder = recorder_with(committed, flush_every_s=0.05)
    recorder.start()
    try:
        record(recorder, 3)
        for _ in range(100):
            if committed:
                break
            await asyncio.sleep(0.02)
        assert sum(len(e.calls) for e in committed) == 3
        record(recorder, 2, start=3)
    finally:
        await recorder.stop()
    assert [c.latency_ms for e in committed for c in e.calls] == [0, 1, 2, 3, 4]


async def test_a_full_batch_is_flushed_without_waiting_for_the_timer() -> None:
    committed: list[Any] = []
    recorder = recorder_with(committed, flush_every_s=60, batch_size=10)
    recorder.start()
    try:
        record(recorder, 10)
        for _ in range(100):
            if committed:
                break
            await asyncio.sleep(0.02)
        assert [len(e.calls) for e in committed] == [10]
    finally:
        await recorder.stop()


def test_options_are_checked() -> None:
    with pytest.raises(ValueError):
        recorder_with([], batch_size=1_001)
    with pytest.raises(ValueError):
        recorder_with([], batch_size=100, max_buffered=50)


class ListRecorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def record(self, **call: Any) -> None:
        self.calls.append(call)


def usage_app() -> tuple[FastAPI, ListRecorder]:
    app = FastAPI()
    recorder = ListRecorder()
    app.state.api_usage_recorder = recorder

    @app.get("/keyed/{outcome}")
    async def keyed(outcome: str, request: Request) -> dict[str, str]:
        setattr(
            request.state,
            API_KEY_STATE,
            ApiKeyVerification(valid=True, code=ApiKeyCode.VALID, key_id="key-9"),
        )
        if outcome == "missing":
            raise HTTPException(404)
        if outcome == "crash":
            raise RuntimeError("boom")
        return {"ok": "yes"}

    @app.get("/anonymous")
    async def anonymous() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(ApiUsageMiddleware)
    return app, recorder


async def test_the_middleware_records_only_calls_a_key_authorised() -> None:
    app, recorder = usage_app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        assert (await client.get("/keyed/fine")).status_code == 200
        assert (await client.get("/keyed/missing")).status_code == 404
        assert (await client.get("/keyed/crash")).status_code == 500
        assert (await client.get("/anonymous")).status_code == 200
    assert [(c["endpoint"], c["method"], c["status_code"]) for c in recorder.calls] == [
        ("/keyed/fine", "GET", 200),
        ("/keyed/missing", "GET", 404),
        ("/keyed/crash", "GET", 500),
    ]
    assert all(c["api_key_id"] == "key-9" and c["latency_ms"] >= 0 for c in recorder.calls)
