"""The billing worker: outbox relay, consumers and scheduled jobs (`billing-worker --help`)."""

from billing.config import BillingSettings
from billing.events import SUBSCRIPTIONS
from billing.jobs import JOBS
from lib_runtime.worker_cli import worker_main


def run() -> None:
    worker_main(BillingSettings, SUBSCRIPTIONS, jobs=JOBS)


if __name__ == "__main__":
    run()
