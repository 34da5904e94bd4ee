"""Periodic jobs of the identity worker (`identity-worker run-job <name>` runs one by hand)."""

from __future__ import annotations

from identity.domain.rate_windows import prune_rate_windows
from lib_runtime.scheduling import ScheduledJob

JOBS: list[ScheduledJob] = [
    ScheduledJob(name="prune-rate-windows", every_s=3_600.0, run=prune_rate_windows),
]
