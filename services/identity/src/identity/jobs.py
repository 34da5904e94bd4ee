"""Periodic jobs of the identity worker (`identity-worker run-job <name>` runs one by hand)."""

from __future__ import annotations

from identity.domain.rate_windows import prune_rate_windows
from identity.domain.trials import expire_due_trials
from lib_runtime.scheduling import ScheduledJob

JOBS: list[ScheduledJob] = [
    ScheduledJob(name="prune-rate-windows", every_s=3_600.0, run=prune_rate_windows),
    # Verify refuses a trial key past its workspace's expiresAt even before this runs; the
    # job makes it official (status, events, keys revoked and evicted elsewhere).
    ScheduledJob(name="expire-trials", every_s=60.0, run=expire_due_trials),
]
