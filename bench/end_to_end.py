"""Benchmark 2: sustained throughput of the whole bus, from the first commit to the last handled.

A writer commits probe events through identity's unit of work (transactions of 50, as fast as
it can), identity's `EventWorker` relays them, billing's `EventWorker` applies each one with its
inbox row and one probe row. The figure is events / (last handler commit - first writer
commit). Runs in each requested layout (see `pipeline`); PERF.md's bare outbox with writer,
relay and consumer all running (~1,100-1,250 events/s) is the context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from environment import BenchEnvironment, median
from pipeline import ConsumerKind, Layout, WriterPlan, run_pipeline

TARGET_EVENTS_PER_S = 1_000
PERF_MD_BARE_EVENTS_PER_S = "~1,100-1,250"


@dataclass(frozen=True)
class EndToEndOptions:
    events: int = 20_000
    per_transaction: int = 50
    repetitions: int = 1
    layouts: tuple[Layout, ...] = ("processes",)
    consumer: ConsumerKind = "as-is"


async def run(env: BenchEnvironment, options: EndToEndOptions) -> dict[str, Any]:
    plan = WriterPlan(events=options.events, per_transaction=options.per_transaction)
    by_layout: dict[str, Any] = {}
    for layout in options.layouts:
        rates: list[float] = []
        writer_rates: list[float] = []
        for _ in range(options.repetitions):
            result = await run_pipeline(env, plan, layout=layout, consumer=options.consumer)
            rates.append(result.handled / result.commit_to_handled_s)
            writer = result.writer
            writer_rates.append(
                writer.events / (writer.last_commit_returned_at - writer.first_commit_started_at)
            )
        rate = median(rates)
        by_layout[layout] = {
            "events_per_s": rates,
            "median_events_per_s": rate,
            "writer_commits_events_per_s": writer_rates,
            "target_met": rate >= TARGET_EVENTS_PER_S,
        }
    return {
        "events": options.events,
        "per_transaction": options.per_transaction,
        "repetitions": options.repetitions,
        "consumer": options.consumer,
        "layouts": by_layout,
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "perf_md_bare_events_per_s": PERF_MD_BARE_EVENTS_PER_S,
    }
