"""The identity worker: outbox relay and consumers (`identity-worker --help`)."""

from identity.config import IdentitySettings
from identity.events import SUBSCRIPTIONS
from lib_runtime.worker_cli import worker_main


def run() -> None:
    worker_main(IdentitySettings, SUBSCRIPTIONS)


if __name__ == "__main__":
    run()
