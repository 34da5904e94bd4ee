"""Identity's API-key verify route and a JWT-authenticated `GET /api/v1/users/me` under load,
each beside a bare baseline measured in the same run.

    uv run python bench/identity_verify.py [--seconds 10] [--connections 32] [--quick]

Three HTTP servers, each its own process under uvicorn (as `identity-api` runs), against one
throwaway database (environment.BenchEnvironment):

- baseline: a bare FastAPI route doing one asyncpg primary-key select (of an api_keys row,
  by id, from a pool of 10) and answering it as JSON;
- verify: identity itself (`identity.main.run`), `POST /internal/api-keys/verify` for 100
  keys in turn, each call looked up, rate-limit counted and answered (limits set high enough
  never to refuse);
- users/me: the same identity server, `GET /api/v1/users/me` with the access tokens of
  USERS signed-in users in turn (each call: the JWT checked against identity's signing keys,
  the user read, answered);
- cached: a consuming service's route taking `X-API-Key` through lib_auth's ApiKeyClient, its
  cache warm (the issue's "under 2 ms p99 when a consuming service's cache is warm"), under
  the same load and then one request at a time (its own latency, without queueing).

The load comes from this process: `--connections` keep-alive HTTP/1.1 connections, each
sending its next request as soon as the answer arrived, for `--seconds` after a warm-up.
Baseline, verify and users/me alternate (`--repetitions` each) and the medians are reported. On two
cores the load generator, the server and Postgres share the CPUs: the figures are relative.
Figures go to stdout and to bench/results/identity_verify.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from content.config import ContentSettings
from fastapi import APIRouter, FastAPI
from identity.config import IdentitySettings
from identity.main import create_app as create_identity_app
from lib_auth import ApiKeyClient, ApiKeyPrincipal
from lib_runtime.app import create_platform_app
from pydantic import BaseModel
from sqlalchemy import text

from environment import BenchEnvironment, amqp_url, postgres_admin_url, role_url
from run import cpu_busy_fraction, git_commit

RESULTS = Path(__file__).resolve().parent / "results" / "identity_verify.json"
KEYS = 100
USERS = 20
NEVER_LIMITED = json.dumps(
    {tier: {"per_minute": 10**9, "per_day": 10**12} for tier in ("FREE", "PRO")}
)
INTERNAL_TOKEN = "internal-dev-token"
TARGET_RATIO = 0.5
TARGET_CACHED_P99_MS = 2.0
PASSWORD = "correct horse battery"


# --- the servers (each runs in a process of its own) ---------------------------------------


class Lookup(BaseModel):
    id: str


def serve_baseline(port: int, dsn: str) -> None:
    import asyncpg
    import uvicorn

    pool: dict[str, Any] = {}

    async def keep(_: Any) -> None:
        pass

    async def lifespan(_: FastAPI) -> Any:
        # No reset on release: one round trip per request, as identity's verify pool.
        pool["pool"] = await asyncpg.create_pool(dsn, min_size=10, max_size=10, reset=keep)
        yield
        await pool["pool"].close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/baseline")
    async def baseline(body: Lookup) -> dict[str, Any]:
        row = await pool["pool"].fetchrow(
            "SELECT id, user_id, status, tier, scopes FROM api_keys WHERE id = $1", body.id
        )
        return dict(row) if row else {}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_identity() -> None:
    from identity.main import run

    run()  # identity-api itself, configured by the IDENTITY_* environment


def serve_consumer(port: int, identity_url: str, database_url: str) -> None:
    import uvicorn

    router = APIRouter()

    @router.get("/api/v1/probe")
    async def probe(key: ApiKeyPrincipal) -> dict[str, Any]:
        return {"keyId": key.key_id}

    settings = ContentSettings(
        database_url=database_url, log_level="WARNING", amqp_url=amqp_url(), http_port=port
    )
    client = ApiKeyClient(identity_url, INTERNAL_TOKEN, cache_ttl_s=300)
    app = create_platform_app(settings, routers=[router], api_key_client=client)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- the load ------------------------------------------------------------------------------


@dataclass
class Load:
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    bodies_checked: int = 0
    bodies_ok: int = 0
    measured_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_s)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0

        return {
            "requests": len(ordered),
            "requests_per_s": round(len(ordered) / self.measured_s, 1) if self.measured_s else 0,
            "p50_ms": round(pct(0.50), 2),
            "p99_ms": round(pct(0.99), 2),
            "max_ms": round(ordered[-1] * 1000, 2) if ordered else 0,
            "statuses": dict(self.statuses),
            "answers_checked": self.bodies_checked,
            "answers_as_expected": self.bodies_ok,
        }


def http_request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: bench"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def one_connection(
    port: int,
    requests: list[bytes],
    expect: bytes,
    start: float,
    warm_until: float,
    stop_at: float,
    load: Load,
    offset: int,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while True:
            sent = time.perf_counter()
            if sent >= stop_at:
                return
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            done = time.perf_counter()
            if sent >= warm_until:
                load.latencies_s.append(done - sent)
                load.statuses[int(head[9:12])] += 1
                if i % 50 == 0:  # check a sample of the answers
                    load.bodies_checked += 1
                    load.bodies_ok += expect in body
    finally:
        writer.close()


async def generate_load(
    port: int,
    requests: list[bytes],
    expect: bytes,
    *,
    connections: int,
    warmup_s: float,
    seconds: float,
) -> Load:
    load = Load()
    start = time.perf_counter()
    warm_until = start + warmup_s
    stop_at = warm_until + seconds
    await asyncio.gather(
        *(
            one_connection(port, requests, expect, start, warm_until, stop_at, load, n * 7)
            for n in range(connections)
        )
    )
    load.measured_s = seconds
    return load


# --- orchestration -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"server on {port} exited with {process.returncode}")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server on {port} did not come up")


async def make_credentials(
    env: BenchEnvironment, settings: IdentitySettings
) -> tuple[list[str], list[str], list[str]]:
    """Through identity's own routes: KEYS active keys of one verified user (ids, secrets),
    and the access tokens of USERS registered users."""
    app = create_identity_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            grant = (
                await client.post(
                    "/api/v1/auth/register",
                    json={"email": "bench@example.com", "password": PASSWORD},
                )
            ).json()
            async with app.state.database.engine.begin() as conn:
                await conn.execute(
                    text("UPDATE users SET email_verified = now() WHERE id = :id"),
                    {"id": grant["user"]["id"]},
                )
            headers = {"Authorization": f"Bearer {grant['accessToken']}"}
            ids, secrets = [], []
            for n in range(KEYS):
                created = (
                    await client.post(
                        "/api/v1/api-keys", json={"name": f"bench-{n}"}, headers=headers
                    )
                ).json()
                ids.append(created["id"])
                secrets.append(created["key"])
            tokens = [grant["accessToken"]]
            for n in range(1, USERS):
                registered = await client.post(
                    "/api/v1/auth/register",
                    json={"email": f"bench-{n}@example.com", "password": PASSWORD},
                )
                tokens.append(registered.json()["accessToken"])
    return ids, secrets, tokens


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with BenchEnvironment(postgres_admin_url(), amqp_url()) as env:
        identity_env = {
            "IDENTITY_DATABASE_URL": role_url(env.admin_url, env.database, "identity"),
            "IDENTITY_AMQP_URL": env.amqp_url,
            "IDENTITY_EVENTS_EXCHANGE": env.exchange,
            "IDENTITY_LOG_LEVEL": "WARNING",
            "IDENTITY_API_KEY_RATE_LIMITS": NEVER_LIMITED,
            "IDENTITY_API_KEYS_PER_USER": str(KEYS),
        }
        settings = env.identity_settings(
            api_key_rate_limits=json.loads(NEVER_LIMITED), api_keys_per_user=KEYS
        )
        ids, secrets, tokens = await make_credentials(env, settings)

        ports = {"baseline": free_port(), "verify": free_port(), "cached": free_port()}
        dsn = role_url(env.admin_url, env.database, "identity").replace("+asyncpg", "")
        servers = {
            "baseline": start_server(["serve-baseline", str(ports["baseline"]), dsn]),
            "verify": start_server(
                ["serve-identity"], {**identity_env, "IDENTITY_HTTP_PORT": str(ports["verify"])}
            ),
        }
        servers["cached"] = start_server(
            [
                "serve-consumer",
                str(ports["cached"]),
                f"http://127.0.0.1:{ports['verify']}",
                role_url(env.admin_url, env.database, "content"),
            ]
        )
        try:
            for name, process in servers.items():
                await wait_healthy(ports[name], process)
            workloads = {
                "baseline": (
                    [
                        http_request("POST", "/baseline", json.dumps({"id": i}).encode())
                        for i in ids
                    ],
                    b'"status":"active"',
                ),
                "verify": (
                    [
                        http_request(
                            "POST",
                            "/internal/api-keys/verify",
                            json.dumps({"key": s}).encode(),
                            {"X-Internal-Token": INTERNAL_TOKEN},
                        )
                        for s in secrets
                    ],
                    b'"code":"VALID"',
                ),
                "users/me": (
                    [
                        http_request(
                            "GET", "/api/v1/users/me", headers={"Authorization": f"Bearer {t}"}
                        )
                        for t in tokens
                    ],
                    b'"referralCode"',
                ),
                "cached": (
                    [
                        http_request("GET", "/api/v1/probe", headers={"X-API-Key": s})
                        for s in secrets
                    ],
                    b'"keyId"',
                ),
            }
            workloads["cached, one at a time"] = workloads["cached"]
            ports["cached, one at a time"] = ports["cached"]
            ports["users/me"] = ports["verify"]
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in workloads}
            order = ["baseline", "verify", "users/me"] * args.repetitions + [
                "cached",
                "cached, one at a time",
            ]
            for name in order:
                requests, expect = workloads[name]
                print(f"{name} ...", flush=True)
                load = await generate_load(
                    ports[name],
                    requests,
                    expect,
                    # One at a time: a request's own latency, no queueing behind the others.
                    connections=1 if name.endswith("one at a time") else args.connections,
                    warmup_s=args.warmup,
                    seconds=args.seconds,
                )
                runs[name].append(load.summary())
        finally:
            for process in servers.values():
                process.terminate()
            for process in servers.values():
                process.wait(timeout=20)

    def median(name: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[name]))

    ratio = median("verify", "requests_per_s") / median("baseline", "requests_per_s")
    me_ratio = median("users/me", "requests_per_s") / median("baseline", "requests_per_s")
    return {
        "connections": args.connections,
        "seconds": args.seconds,
        "keys": KEYS,
        "runs": runs,
        "baseline_median_requests_per_s": median("baseline", "requests_per_s"),
        "verify_median_requests_per_s": median("verify", "requests_per_s"),
        "baseline_median_p99_ms": median("baseline", "p99_ms"),
        "verify_median_p99_ms": median("verify", "p99_ms"),
        "ratio": round(ratio, 3),
        "users": USERS,
        "users_me_median_requests_per_s": median("users/me", "requests_per_s"),
        "users_me_median_p99_ms": median("users/me", "p99_ms"),
        "users_me_ratio": round(me_ratio, 3),
        "target_ratio": TARGET_RATIO,
        "target_met": ratio >= TARGET_RATIO,
        "cached_p99_ms": median("cached", "p99_ms"),
        "cached_requests_per_s": median("cached", "requests_per_s"),
        "cached_one_at_a_time_p99_ms": median("cached, one at a time", "p99_ms"),
        "cached_one_at_a_time_p50_ms": median("cached, one at a time", "p50_ms"),
        "target_cached_p99_ms": TARGET_CACHED_P99_MS,
        "cached_target_met": median("cached, one at a time", "p99_ms") < TARGET_CACHED_P99_MS,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("serve-"):
        mode, rest = sys.argv[1], sys.argv[2:]
        if mode == "serve-baseline":
            serve_baseline(int(rest[0]), rest[1])
        elif mode == "serve-identity":
            serve_identity()
        else:
            serve_consumer(int(rest[0]), rest[1], rest[2])
        return
    parser = argparse.ArgumentParser(
        description="Identity's API-key verify and users/me routes under load."
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repetitions", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2 s runs, one repetition")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.repetitions = 2.0, 0.5, 1
    busy = cpu_busy_fraction()
    figures = asyncio.run(run(args))
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "git_commit": git_commit(),
        "cpu_busy_before_pct": None if busy is None else round(busy * 100),
        "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
        **figures,
    }
    print()
    print(
        f"baseline (bare FastAPI + one asyncpg PK select): "
        f"{figures['baseline_median_requests_per_s']:,.0f} req/s, "
        f"p99 {figures['baseline_median_p99_ms']:.1f} ms"
    )
    print(
        f"identity verify: {figures['verify_median_requests_per_s']:,.0f} req/s, "
        f"p99 {figures['verify_median_p99_ms']:.1f} ms -> ratio {figures['ratio']:.0%} "
        f"(target >= {TARGET_RATIO:.0%}: {'met' if figures['target_met'] else 'MISSED'})"
    )
    print(
        f"identity GET /api/v1/users/me (JWT): "
        f"{figures['users_me_median_requests_per_s']:,.0f} req/s, "
        f"p99 {figures['users_me_median_p99_ms']:.1f} ms -> ratio {figures['users_me_ratio']:.0%}"
    )
    print(
        f"consumer route, warm cache: {figures['cached_requests_per_s']:,.0f} req/s, "
        f"p99 {figures['cached_p99_ms']:.2f} ms with {args.connections} connections; one "
        f"request at a time p50 {figures['cached_one_at_a_time_p50_ms']:.2f} / p99 "
        f"{figures['cached_one_at_a_time_p99_ms']:.2f} ms (target p99 < {TARGET_CACHED_P99_MS} "
        f"ms: {'met' if figures['cached_target_met'] else 'MISSED'})"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"figures written to {args.output}")


if __name__ == "__main__":
    main()
