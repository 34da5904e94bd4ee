"""Event-bus benchmarks: `uv run python bench/run.py [--quick] [options]` (or `make bench`).

Sets up a throwaway database and bus namespace, runs the three benchmarks (relay drain, end to
end, latency), each beside a baseline measured in the same run, prints a table and writes the
figures to bench/results/latest.json (a `--quick` smoke run writes bench/results/quick.json).
Servers: BENCH_POSTGRES_URL (superuser) and BENCH_AMQP_URL, defaults on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import end_to_end
import hot_paths
import latency
import relay_drain
from environment import REPO_ROOT, BenchEnvironment, amqp_url, postgres_admin_url
from pipeline import CONSUMER_KINDS, LAYOUTS

RESULTS_DIR = Path(__file__).resolve().parent / "results"
BUSY_CPU_FRACTION = 0.25  # busier than this before we start: another workload shares the CPUs
BENCHMARKS = ("drain", "e2e", "latency", "hot-paths")
DEFAULT_BENCHMARKS = ("drain", "e2e", "latency")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmarks of the outbox event bus.")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run of a few seconds (small counts)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        help="run only these (repeatable); hot-paths runs only when named",
    )
    parser.add_argument("--output", type=Path, help="where to write the JSON figures")
    parser.add_argument(
        "--consumer",
        choices=CONSUMER_KINDS,
        default="as-is",
        help="end to end and latency: billing's consumer as it is, or the lean prototype",
    )
    drain = parser.add_argument_group("relay drain")
    drain.add_argument("--drain-events", type=int, default=20_000)
    drain.add_argument("--drain-repetitions", type=int, default=3)
    drain.add_argument("--drain-fill-per-transaction", type=int, default=500)
    e2e = parser.add_argument_group("end to end")
    e2e.add_argument("--e2e-events", type=int, default=20_000)
    e2e.add_argument("--e2e-per-transaction", type=int, default=50)
    e2e.add_argument("--e2e-repetitions", type=int, default=1)
    e2e.add_argument(
        "--e2e-layout",
        action="append",
        choices=LAYOUTS,
        help="default: processes (repeatable: --e2e-layout single --e2e-layout processes)",
    )
    lat = parser.add_argument_group("latency")
    lat.add_argument("--latency-rate", type=int, default=500, help="events per second")
    lat.add_argument("--latency-per-transaction", type=int, default=10)
    lat.add_argument("--latency-seconds", type=float, default=20.0)
    lat.add_argument("--latency-layout", choices=LAYOUTS, default="processes")
    lat.add_argument("--latency-warmup-seconds", type=float, default=1.0)
    hot = parser.add_argument_group("hot paths (consumer variants)")
    hot.add_argument("--hot-path-events", type=int, default=5_000)
    hot.add_argument("--hot-path-repetitions", type=int, default=3)
    args = parser.parse_args()
    if args.quick:  # a smoke run: every code path, in one process, small counts
        args.drain_events, args.drain_repetitions = 1_000, 1
        args.e2e_events, args.e2e_repetitions = 1_000, 1
        args.e2e_layout = args.e2e_layout or ["single"]
        args.latency_layout, args.latency_rate, args.latency_seconds = "single", 200, 1.0
        args.latency_warmup_seconds = 0.2
        args.hot_path_events, args.hot_path_repetitions = 1_000, 1
    args.e2e_layout = tuple(args.e2e_layout or ["processes"])
    args.only = tuple(args.only or DEFAULT_BENCHMARKS)
    if args.output is None:
        args.output = RESULTS_DIR / ("quick.json" if args.quick else "latest.json")
    return args


def cpu_busy_fraction(seconds: float = 1.0) -> float | None:
    """How busy all CPUs were over `seconds` (from /proc/stat), or None off Linux."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values), idle

    try:
        total_before, idle_before = sample()
        time.sleep(seconds)
        total_after, idle_after = sample()
    except OSError:
        return None
    total = total_after - total_before
    return 1 - (idle_after - idle_before) / total if total else None


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


async def run_benchmarks(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with BenchEnvironment(postgres_admin_url(), amqp_url()) as env:
        if "drain" in args.only:
            print("relay drain ...", flush=True)
            figures["relay_drain"] = await relay_drain.run(
                env,
                relay_drain.RelayDrainOptions(
                    events=args.drain_events,
                    repetitions=args.drain_repetitions,
                    fill_per_transaction=args.drain_fill_per_transaction,
                ),
            )
        if "e2e" in args.only:
            print("end to end ...", flush=True)
            figures["end_to_end"] = await end_to_end.run(
                env,
                end_to_end.EndToEndOptions(
                    events=args.e2e_events,
                    per_transaction=args.e2e_per_transaction,
                    repetitions=args.e2e_repetitions,
                    layouts=args.e2e_layout,
                    consumer=args.consumer,
                ),
            )
        if "latency" in args.only:
            print("latency ...", flush=True)
            figures["latency"] = await latency.run(
                env,
                latency.LatencyOptions(
                    rate_per_s=args.latency_rate,
                    per_transaction=args.latency_per_transaction,
                    duration_s=args.latency_seconds,
                    layout=args.latency_layout,
                    warmup_s=args.latency_warmup_seconds,
                    consumer=args.consumer,
                ),
            )
        if "hot-paths" in args.only:
            print("hot paths ...", flush=True)
            figures["hot_paths"] = await hot_paths.run(
                env,
                hot_paths.HotPathOptions(
                    events=args.hot_path_events, repetitions=args.hot_path_repetitions
                ),
            )
    return figures


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def lean_note(figure: dict[str, Any]) -> str:
    return ", LEAN consumer prototype" if figure["consumer"] == "lean" else ""


def latency_cells(summary: dict[str, float]) -> str:
    return "{p50_ms:.1f}/{p95_ms:.1f}/{p99_ms:.1f}/{max_ms:.1f} ms".format(**summary)


def table_rows(figures: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(benchmark, measured, baseline in the same run, target) for each figure."""
    rows: list[tuple[str, str, str, str]] = []
    if drain := figures.get("relay_drain"):
        rows.append(
            (
                f"relay drain, {drain['events']:,} events, batch {drain['batch_size']}",
                f"{drain['relay_median_events_per_s']:,.0f} events/s",
                f"{drain['baseline_median_messages_per_s']:,.0f} msg/s raw aio-pika",
                f"ratio {drain['ratio']:.0%} vs >= {drain['target_ratio']:.0%}: "
                + verdict(drain["target_met"]),
            )
        )
    if e2e := figures.get("end_to_end"):
        for layout, result in e2e["layouts"].items():
            rows.append(
                (
                    f"end to end, {e2e['events']:,} events, {layout}" + lean_note(e2e),
                    f"{result['median_events_per_s']:,.0f} events/s",
                    f"PERF.md bare: {e2e['perf_md_bare_events_per_s']} events/s",
                    f">= {e2e['target_events_per_s']:,} events/s: " + verdict(result["target_met"]),
                )
            )
    if lat := figures.get("latency"):
        rows.append(
            (
                f"latency at {lat['rate_per_s']}/s for {lat['duration_s']:g} s, {lat['layout']}"
                + lean_note(lat),
                "p50/p95/p99/max " + latency_cells(lat["bus"]),
                "raw aio-pika " + latency_cells(lat["baseline"]),
                f"p99 < {lat['target_p99_ms']:.0f} ms: " + verdict(lat["target_met"]),
            )
        )
    if hot := figures.get("hot_paths"):
        medians = hot["consumer_median_events_per_s"]
        as_is = medians["as is"]
        for name, rate in medians.items():
            rows.append(
                (
                    f"consumer alone, {hot['events']:,} queued, {name}",
                    f"{rate:,.0f} events/s",
                    f"as is: {as_is:,.0f} events/s",
                    f"{rate / as_is:.2f}x (no target)",
                )
            )
    return rows


def format_table(rows: list[tuple[str, str, str, str]]) -> str:
    header = ("benchmark", "measured", "baseline (same run)", "target")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, tuple("-" * w for w in widths), *rows]
    ]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    busy_before = cpu_busy_fraction()
    if busy_before is not None and busy_before > BUSY_CPU_FRACTION:
        print(f"note: the CPUs were {busy_before:.0%} busy before the run: expect noisy figures")
    figures = asyncio.run(run_benchmarks(args))
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "git_commit": git_commit(),
        "quick": args.quick,
        "wall_clock_s": round(time.monotonic() - started, 1),
        "cpu_busy_before_pct": None if busy_before is None else round(busy_before * 100),
        "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
        **figures,
    }
    print()
    print(format_table(table_rows(figures)))
    if args.quick:
        print("\n--quick: a smoke run with small counts; its figures are not held to the targets.")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nfigures written to {args.output} ({report['wall_clock_s']} s)")


if __name__ == "__main__":
    main()
