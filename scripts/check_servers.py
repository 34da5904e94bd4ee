#!/usr/bin/env python3
"""Is PostgreSQL (and RabbitMQ) reachable? Stdlib only, so it runs before `uv sync`.

    python3 scripts/check_servers.py [--only postgres|rabbitmq] [--wait SECONDS]

URLs come from PLATFORM_ADMIN_DATABASE_URL and PLATFORM_AMQP_URL (defaults: the local dev
servers). For a server that is down it prints the command that starts it and exits 1.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Server:
    key: str
    name: str
    env_var: str
    default_url: str
    default_port: int
    start_command: str

    @property
    def url(self) -> str:
        return os.environ.get(self.env_var) or self.default_url

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or self.default_port


SERVERS = (
    Server(
        key="postgres",
        name="PostgreSQL",
        env_var="PLATFORM_ADMIN_DATABASE_URL",
        default_url="postgresql://postgres@127.0.0.1:5432/postgres",
        default_port=5432,
        start_command="pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    Server(
        key="rabbitmq",
        name="RabbitMQ",
        env_var="PLATFORM_AMQP_URL",
        default_url="amqp://guest:guest@127.0.0.1:5672/",
        default_port=5672,
        start_command="rabbitmq-server -detached",
    ),
)


def reachable(host: str, port: int, timeout_s: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout_s):
            return True
    except OSError:
        return False


def wait_until_reachable(server: Server, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        if reachable(*server.address):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", choices=[s.key for s in SERVERS], action="append")
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="keep trying this long before giving up (default: one try)",
    )
    args = parser.parse_args(argv)

    down = 0
    for server in SERVERS:
        if args.only and server.key not in args.only:
            continue
        host, port = server.address
        if wait_until_reachable(server, args.wait):
            print(f"{server.name:<10} {host}:{port}  up")
            continue
        down += 1
        print(f"{server.name:<10} {host}:{port}  DOWN ({server.env_var})")
        print(f"  start it with: {server.start_command}")
    return 1 if down else 0


if __name__ == "__main__":
    sys.exit(main())
