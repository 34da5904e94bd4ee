"""Liveness (/healthz) and readiness (/readyz) probes.

Readiness checks are async callables that raise when their dependency is unreachable. They can
be given to `create_service_app` or registered later by the lifespan, once it has created the
database engine and the broker connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import JSONResponse, Response

from lib_web.problems import problem_response

ReadinessCheck = Callable[[], Awaitable[None]]

READINESS_TIMEOUT_S = 2.0
CHECK_OK = "ok"

logger = structlog.stdlib.get_logger(__name__)


def readiness_checks(app: FastAPI) -> dict[str, ReadinessCheck]:
    checks: dict[str, ReadinessCheck] = app.state.readiness_checks
    return checks


def register_readiness_check(app: FastAPI, name: str, check: ReadinessCheck) -> None:
    """Make /readyz depend on `check` (replacing any earlier check of that name)."""
    readiness_checks(app)[name] = check


async def _run_check(name: str, check: ReadinessCheck, timeout_s: float) -> str:
    try:
        async with asyncio.timeout(timeout_s):
            await check()
    except TimeoutError:
        outcome = f"timed out after {timeout_s:g}s"
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {exc}"[:300]
    else:
        return CHECK_OK
    logger.warning("readiness check failed", check=name, reason=outcome)
    return outcome


async def run_readiness_checks(
    checks: dict[str, ReadinessCheck], timeout_s: float = READINESS_TIMEOUT_S
) -> dict[str, str]:
    """Run every check concurrently; each outcome is "ok" or why it failed."""
    names = list(checks)
    outcomes = await asyncio.gather(*(_run_check(n, checks[n], timeout_s) for n in names))
    return dict(zip(names, outcomes, strict=True))


def health_router() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        outcomes = await run_readiness_checks(readiness_checks(request.app))
        failed = [name for name, outcome in outcomes.items() if outcome != CHECK_OK]
        if failed:
            return problem_response(
                503,
                detail=f"Not ready: {', '.join(failed)}.",
                instance=request.url.path,
                checks=outcomes,
            )
        return JSONResponse({"status": "ready", "checks": outcomes})

    return router
