"""The identity worker: outbox relay, consumers and jobs (`identity-worker --help`)."""

from identity.config import IdentitySettings
from identity.events import SUBSCRIPTIONS
from identity.jobs import JOBS
from lib_runtime.worker_cli import worker_main


def run() -> None:
    worker_main(IdentitySettings, SUBSCRIPTIONS, jobs=JOBS)


if __name__ == "__main__":
    run()
