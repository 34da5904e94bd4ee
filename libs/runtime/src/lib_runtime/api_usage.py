"""Reporting calls served with API keys to identity: buffered, sent in batches via the outbox.

`ApiUsageRecorder.record(...)` only appends to an in-memory buffer (no I/O on the request
path). A background task flushes it every `flush_every_s` seconds, or sooner once
`batch_size` calls are waiting, as `<context>.api_usage.recorded` events written through the
service's own unit of work (outbox), so a batch, once flushed, is delivered like any event.

Memory is bounded: past `max_buffered` calls the oldest are dropped (and counted in
`dropped`), e.g. while the database is unreachable. What a crash can lose: the calls recorded
since the last flush (at most `flush_every_s` seconds of traffic, and never more than
`max_buffered` calls). A graceful shutdown (`stop()`) flushes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lib_auth import ApiKeyVerification
from lib_auth.dependencies import API_KEY_STATE
from lib_contracts.api_usage import MAX_CALLS_PER_BATCH, ApiCallRecord, ApiUsageBatch
from lib_database import UnitOfWork

log = structlog.get_logger(__name__)

USAGE_CALLS = Counter(
    "api_usage_calls_total",
    "API-key calls seen by the usage recorder, by outcome (flushed, dropped).",
    ["outcome"],
)


class ApiUsageRecorder:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        event: type[ApiUsageBatch],
        *,
        flush_every_s: float = 5.0,
        batch_size: int = 500,
        max_buffered: int = 20_000,
    ) -> None:
        if not 1 <= batch_size <= MAX_CALLS_PER_BATCH:
            raise ValueError(f"batch_size must be within 1..{MAX_CALLS_PER_BATCH}")
        if max_buffered < batch_size:
            raise ValueError("max_buffered must hold at least one batch")
        self._uow_factory = uow_factory
        self._event = event
        self.flush_every_s = flush_every_s
        self.batch_size = batch_size
        self._buffer: deque[ApiCallRecord] = deque(maxlen=max_buffered)
        self.dropped = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._stopping = False

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def record(
        self,
        *,
        api_key_id: str,
        endpoint: str,
        method: str,
        status_code: int,
        latency_ms: int,
        called_at: datetime | None = None,
    ) -> None:
        """Remember one call; never blocks and never raises for a full buffer."""
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1  # the deque drops the oldest call to make room
            USAGE_CALLS.labels(outcome="dropped").inc()
        self._buffer.append(
            ApiCallRecord(
                call_id=str(uuid.uuid4()),
                api_key_id=api_key_id,
                endpoint=endpoint[:512],
                method=method[:16],
                status_code=status_code,
                latency_ms=max(0, latency_ms),
                called_at=called_at or datetime.now(UTC),
            )
        )
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    async def flush(self) -> int:
        """Write everything buffered as events (one transaction per batch); how many calls.
        A batch whose write fails goes back to the front of the buffer."""
        sent = 0
        async with self._flush_lock:
            while self._buffer:
                batch = [
                    self._buffer.popleft() for _ in range(min(self.batch_size, len(self._buffer)))
                ]
                try:
                    async with self._uow_factory() as uow:
                        payload = self._event(batch_id=str(uuid.uuid4()), calls=batch)
                        uow.emit(payload, subject=payload.batch_id)
                        await uow.commit()
                except BaseException:
                    self._buffer.extendleft(reversed(batch))
                    raise
                sent += len(batch)
                USAGE_CALLS.labels(outcome="flushed").inc(len(batch))
        return sent

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="api-usage-recorder")

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_every_s)
            self._wake.clear()
            started = time.monotonic()
            try:
                await self.flush()
            except Exception as exc:  # the calls stay buffered; try again next round
                log.warning("api_usage.flush_failed", error=repr(exc), buffered=self.buffered)
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    async def stop(self) -> None:
        """Let the background task finish its round (never cut a write short), then flush
        what is left (a last attempt)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception as exc:
            log.error("api_usage.final_flush_failed", error=repr(exc), lost=self.buffered)


class ApiUsageMiddleware:
    """Records each request that an API key authorised (lib_auth's `require_api_key` leaves
    the key's verification in `request.state.api_key`) with the app's recorder
    (`app.state.api_usage_recorder`): path, method, final status and latency."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            verification = scope.get("state", {}).get(API_KEY_STATE)
            recorder = getattr(scope["app"].state, "api_usage_recorder", None)
            if isinstance(verification, ApiKeyVerification) and verification.key_id and recorder:
                recorder.record(
                    api_key_id=verification.key_id,
                    endpoint=scope["path"],
                    method=scope["method"],
                    status_code=status,
                    latency_ms=round((time.perf_counter() - started) * 1000),
                )
