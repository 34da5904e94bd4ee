"""The Makefile and .ci/run, checked with dry runs (`make -n`): nothing is installed or started."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))
TARGETS = [
    "help",
    "install",
    "check-servers",
    "db-init",
    "migrate",
    "dev",
    "test",
    "lint",
    "bench",
    "up",
    "down",
]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def make(*args: str) -> str:
    env = {**os.environ, "UV": "uv"}
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_target_is_phony_and_listed_by_help() -> None:
    makefile = (ROOT / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split())  # type: ignore[union-attr]
    defined = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    assert set(TARGETS) <= defined
    assert defined <= phony
    listed = make("help")
    assert [t for t in TARGETS if not re.search(rf"^\s+{t}\s", listed, re.M)] == []
    assert make() == listed  # help is the default goal


def test_migrate_provisions_then_upgrades_every_service() -> None:
    plan = make("-n", "migrate")
    assert plan.index("scripts/check_servers.py") < plan.index("lib_database.provision")
    assert "deploy/postgres/init.sql" in plan
    for service in SERVICES:
        assert service in plan
    assert "alembic -c services/$svc/alembic.ini upgrade head" in plan


def test_dev_installs_migrates_then_runs_the_procfile() -> None:
    plan = make("-n", "dev")
    steps = ["uv sync --all-packages --frozen", "localstripe", "alembic", "honcho start"]
    positions = [plan.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "-f deploy/Procfile.dev" in plan


def test_test_passes_pytest_args() -> None:
    plan = make("-n", "test", "PYTEST_ARGS=-x -k booking")
    assert re.search(r"uv run --frozen .*pytest -x -k booking", plan)


def test_ci_script_is_executable_bash() -> None:
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert text.index("make install") < text.index("make test")
