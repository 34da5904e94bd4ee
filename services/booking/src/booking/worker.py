"""The booking worker: outbox relay and consumers (`booking-worker --help`)."""

from booking.config import BookingSettings
from booking.events import SUBSCRIPTIONS
from lib_runtime.worker_cli import worker_main


def run() -> None:
    worker_main(BookingSettings, SUBSCRIPTIONS)


if __name__ == "__main__":
    run()
