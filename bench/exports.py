"""Exports of N conversations (and their messages) as CSV and Parquet, on SQLite and PostgreSQL
side by side: wall time, CPU time and the peak memory the export added.

    .venv/bin/python bench/exports.py [-n 100000] [--postgres URL | --no-postgres]

The history is bench/analytics.py's (bulk inserts over the last year, facts built). Each export
runs in a process of its own, started after the rows are written; its resident memory is
sampled during the export, and the figure is the peak above what it was before (what the export
itself held: one batch of rows, not the whole file).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import bench_parser, fill_conversations, postgres_of, print_table, run_both, settle

EXPORTS = [("conversations", "csv"), ("conversations", "parquet"), ("messages", "parquet")]


def child(n: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    now = datetime.now(UTC).replace(microsecond=0)
    fill_conversations(n, now)
    from comptoir.analytics import facts

    facts.rebuild(now)
    settle(connection, "inbox_conversation", "inbox_message", "analytics_conversationfact")
    connection.close()
    runs = []
    for kind, fmt in EXPORTS:
        proc = subprocess.run(
            [sys.executable, __file__, "--export", kind, fmt],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(json.dumps({"db": connection.vendor, "n": n, "runs": runs}))


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1e6


class _PeakRSS(threading.Thread):
    """Samples the resident memory every 5 ms: ru_maxrss is a high-water mark since the
    process started, which Django's start-up may already have set higher than the export."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _rss_mb()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.005):
            self.peak = max(self.peak, _rss_mb())


def export(kind: str, fmt: str) -> None:
    """In a process of its own: one export of the whole history to a temporary file."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    django.setup()
    from comptoir.analytics import exports, writers
    from comptoir.analytics.period import Filters, Period

    now = datetime.now(UTC)
    period = Period(now - timedelta(days=400), now + timedelta(days=1))
    out = Path(os.environ["COMPTOIR_DATA_DIR"]) / f"export.{fmt}"
    before = _rss_mb()
    sampler = _PeakRSS()
    sampler.start()
    c0, t0 = time.process_time(), time.perf_counter()
    rows = writers.write(exports.build(kind, period, Filters()), fmt, out)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    sampler.done.set()
    sampler.join()
    print(
        json.dumps(
            {
                "export": f"{kind} {fmt}",
                "rows": rows,
                "seconds": seconds,
                "cpu": cpu,
                "load": os.getloadavg()[0],
                "peak_mb": max(sampler.peak, _rss_mb()) - before,
                "file_mb": out.stat().st_size / 1e6,
            }
        )
    )


def main() -> None:
    parser = bench_parser(
        __doc__,
        n=100_000,
        what="conversations",
        postgres="postgres://postgres@127.0.0.1:5432/comptoir_bench_exports",
    )
    parser.add_argument("--export", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export:
        export(*args.export)
        return
    if args.child:
        child(args.n)
        return
    postgres = postgres_of(args)
    results = run_both(__file__, args.n, postgres, timeout=7200)
    print(f"Exports benchmark, {args.n:,} conversations, {os.cpu_count()} cores")
    print_table([
        {
            "database": r["db"] if i == 0 else "",
            "export": e["export"],
            "rows": e["rows"],
            "seconds": f"{e['seconds']:.2f}",
            "cpu": f"{e['cpu']:.2f}",
            "load": f"{e['load']:.2f}",
            "peak MB": f"{e['peak_mb']:.1f}",
            "file MB": f"{e['file_mb']:.1f}",
        }
        for r in results
        for i, e in enumerate(r["runs"])
    ])  # fmt: skip


if __name__ == "__main__":
    main()
