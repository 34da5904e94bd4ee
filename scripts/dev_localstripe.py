#!/usr/bin/env python3
"""`make dev`'s fake Stripe: runs localstripe where billing expects the Stripe API and
registers billing's webhook endpoint with it, then stays in the foreground until stopped.

    python3 scripts/dev_localstripe.py

Reads billing's own settings from the environment: BILLING_STRIPE_API_BASE (default
http://127.0.0.1:8420; an https URL means real Stripe, and this does nothing),
BILLING_HTTP_PORT (default 8002) and the first of BILLING_STRIPE_WEBHOOK_SECRETS. Stdlib only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

DEFAULT_API_BASE = "http://127.0.0.1:8420"
DEFAULT_WEBHOOK_SECRET = "whsec_billing_dev"  # billing's development default


def say(message: str) -> None:
    print(message, flush=True)


def wait_for_stop() -> None:
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 1):
            return True
    except OSError:
        return False


def register_webhook(api_base: str, url: str, secret: str) -> None:
    form = urllib.parse.urlencode({"url": url, "secret": secret}).encode()
    request = urllib.request.Request(f"{api_base}/_config/webhooks/billing", data=form)
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def main() -> int:
    api_base = os.environ.get("BILLING_STRIPE_API_BASE", DEFAULT_API_BASE).rstrip("/")
    parts = urllib.parse.urlsplit(api_base)
    if parts.scheme != "http" or parts.hostname not in {"127.0.0.1", "localhost"}:
        say(f"BILLING_STRIPE_API_BASE is {api_base}: not starting localstripe")
        wait_for_stop()
        return 0
    binary = shutil.which("localstripe") or str(Path.home() / ".local/bin/localstripe")
    if not Path(binary).exists():
        say("localstripe is not installed (`make tools`): billing's Stripe calls will fail")
        wait_for_stop()
        return 0
    port = parts.port or 80
    child = subprocess.Popen([binary, "--port", str(port)])
    deadline = time.monotonic() + 30
    while not listening(port):
        if child.poll() is not None or time.monotonic() > deadline:
            say("localstripe did not start")
            child.kill()
            return 1
        time.sleep(0.2)
    billing_port = os.environ.get("BILLING_HTTP_PORT", "8002")
    webhook_url = f"http://127.0.0.1:{billing_port}/api/v1/webhooks/stripe"
    secrets = os.environ.get("BILLING_STRIPE_WEBHOOK_SECRETS", DEFAULT_WEBHOOK_SECRET)
    register_webhook(api_base, webhook_url, secrets.split(",")[0].strip())
    say(f"localstripe on {api_base}, webhooks to {webhook_url}")
    wait_for_stop()
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
