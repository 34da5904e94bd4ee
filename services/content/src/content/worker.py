"""The content worker: outbox relay and consumers (`content-worker --help`)."""

from content.config import ContentSettings
from content.events import SUBSCRIPTIONS
from lib_runtime.worker_cli import worker_main


def run() -> None:
    worker_main(ContentSettings, SUBSCRIPTIONS)


if __name__ == "__main__":
    run()
