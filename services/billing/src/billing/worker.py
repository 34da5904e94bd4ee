"""The billing worker: outbox relay and consumers (`billing-worker --help`)."""

from billing.config import BillingSettings
from billing.events import SUBSCRIPTIONS
from lib_runtime.worker_cli import worker_main


def run() -> None:
    worker_main(BillingSettings, SUBSCRIPTIONS)


if __name__ == "__main__":
    run()
