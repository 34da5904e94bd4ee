"""The market_data worker: outbox relay and consumers (`market_data-worker --help`)."""

from lib_runtime.worker_cli import worker_main
from market_data.config import MarketDataSettings
from market_data.events import SUBSCRIPTIONS


def run() -> None:
    worker_main(MarketDataSettings, SUBSCRIPTIONS)


if __name__ == "__main__":
    run()
