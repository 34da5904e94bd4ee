"""`make dev`'s stack for real: the Procfile's processes (ten services, localstripe and
the mail sink) start under honcho, all five APIs answer ready, a sign-up's mail reaches the
mail sink, and an interrupt stops every process cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from lib_testing.servers import in_ci, localstripe_binary

SERVICES = ["identity", "billing", "market_data", "booking", "content"]
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def migrated_all(migrate_service) -> None:
    for service in SERVICES:
        migrate_service(service)


def test_procfile_stack_comes_up_ready_and_stops_on_interrupt(
    platform_database, bus_namespace, migrated_all
) -> None:
    env = dict(os.environ)
    ports = {}
    for service in SERVICES:
        prefix = service.upper() + "_"
        ports[service] = free_port()
        env.update(
            {
                prefix + "DATABASE_URL": platform_database.url_for(service),
                prefix + "AMQP_URL": bus_namespace.amqp_url,
                prefix + "EVENTS_EXCHANGE": bus_namespace.exchange,
                prefix + "QUEUE_PREFIX": bus_namespace.queue_prefix + "stack.",
                prefix + "QUEUE_EXPIRES_MS": "600000",
                prefix + "HTTP_PORT": str(ports[service]),
                prefix + "WORKER_METRICS_PORT": str(free_port()),
            }
        )
    # make dev's localstripe, on a port of its own, with billing's webhook registered.
    env["BILLING_STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"
    # The mail sink listens where identity sends (a free port: a real `make dev` may be up).
    env["IDENTITY_SMTP_PORT"] = str(free_port())
    stack = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "-f", "deploy/Procfile.dev", "-d", str(ROOT)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        waiting = set(SERVICES)
        while waiting and time.monotonic() < deadline and stack.poll() is None:
            waiting = {s for s in waiting if not ready(ports[s])}
            time.sleep(0.5)
        assert not waiting, f"not ready: {sorted(waiting)}"
        # A sign-up's verification mail reaches the dev mail sink, which logs it.
        email = f"stack-{uuid.uuid4().hex[:8]}@example.com"
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['identity']}/api/v1/auth/register",
            data=json.dumps({"email": email, "password": "stack password 1"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
        time.sleep(2)  # the mail leaves after the response
    finally:
        os.killpg(stack.pid, signal.SIGINT)  # what Ctrl-C does to the whole group
        output, _ = stack.communicate(timeout=60)
    lines = output.splitlines()
    for service in SERVICES:
        # honcho prefixes each line with its process name; every worker says it stopped.
        assert any(
            line.startswith(f"{service}-worker") or f" {service}-worker" in line
            for line in lines
            if "worker.stopped" in line
        ), output[-3000:]
    assert output.count("Application shutdown complete") == len(SERVICES), output[-3000:]
    expected_webhook = f"webhooks to http://127.0.0.1:{ports['billing']}/api/v1/webhooks/stripe"
    if localstripe_binary() is None and not in_ci():
        expected_webhook = "localstripe is not installed"  # the stack runs without it
    assert any(
        line.startswith("localstripe") or " localstripe" in line
        for line in lines
        if expected_webhook in line
    ), output[-3000:]
    sink_lines = [line for line in lines if line.startswith("mail-sink") or " mail-sink" in line]
    assert any("mail_sink.received" in line and email in line for line in sink_lines), output[
        -3000:
    ]
    assert any("mail_sink.stopped" in line for line in sink_lines), output[-3000:]
