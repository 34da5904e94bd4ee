"""The identity worker's scheduled jobs (lib_runtime.scheduling)."""

from __future__ import annotations

from identity.domain.cleanup import delete_stale_credentials
from lib_runtime.scheduling import ScheduledJob

JOBS: list[ScheduledJob] = [
    ScheduledJob(name="delete-stale-credentials", every_s=3600.0, run=delete_stale_credentials),
]
