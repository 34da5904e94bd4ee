"""Identity's scheduled jobs, run by its worker (`identity-worker run-job <name>` runs one now)."""

from __future__ import annotations

from functools import cache

from identity.config import IdentitySettings
from identity.credentials.provider_token_cipher import ProviderTokenCipher
from identity.domain.cleanup import delete_stale_credentials
from identity.domain.provider_tokens import rotate_token_keys
from identity.domain.rate_windows import prune_rate_windows
from identity.domain.trials import expire_due_trials
from lib_runtime.scheduling import ScheduledJob, UnitOfWorkFactory


@cache
def _provider_token_cipher() -> ProviderTokenCipher:
    # Read when the job first runs, in the worker process, never at import.
    return ProviderTokenCipher.from_settings(IdentitySettings())


async def rotate_provider_token_keys(uow_factory: UnitOfWorkFactory) -> int:
    """Re-encrypt provider tokens still under a retired key with the active one: after a new
    `PROVIDER_TOKEN_ACTIVE_KEY_ID` is deployed, the worker converts every row by itself."""
    report = await rotate_token_keys(uow_factory, _provider_token_cipher())
    return report.rotated


JOBS: list[ScheduledJob] = [
    ScheduledJob(name="delete-stale-credentials", every_s=3600.0, run=delete_stale_credentials),
    ScheduledJob(name="rotate-token-keys", every_s=600.0, run=rotate_provider_token_keys),
    ScheduledJob(name="prune-rate-windows", every_s=3_600.0, run=prune_rate_windows),
    # Verify refuses a trial key past its workspace's expiresAt even before this runs; the
    # job makes it official (status, events, keys revoked and evicted elsewhere).
    ScheduledJob(name="expire-trials", every_s=60.0, run=expire_due_trials),
]
