"""The analyst's report (`comptoir report`) over N conversations, on SQLite and PostgreSQL.

    .venv/bin/python bench/report.py [-n 100000] [--postgres URL | --no-postgres]

The history is `bench/analytics.py`'s (six channels over the last year, bulk inserted, facts
built). The report is then built for the last quarter and the last year, each step timed (the
progress the command prints): the KPI steps (key figures, trends, channels, SLA, intents,
surveys) mostly time `kpis`, made fast by the rollups; the report's own work is the longest
waits, the worst breaches' deadlines, the SVG charts and the rendering (`render`, timed apart).
CPU time of this process and the load average are printed beside. The issue's target: the
report <= 30 s at 1,000,000 conversations.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import bench_parser, fill_conversations, postgres_of, print_table, run_both, settle

TARGET = 30.0


def child(n: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from comptoir.analytics import facts, late_rates, rollup
    from comptoir.analytics.models import BuyerMessageFact, ConversationDay, ConversationFact

    now = datetime.now(UTC).replace(microsecond=0)
    fill = build = 0.0
    if ConversationFact.objects.count() != n:  # not kept from an earlier run (--keep)
        t0 = time.perf_counter()
        fill_conversations(n, now)
        fill = time.perf_counter() - t0
        settle(connection, "inbox_conversation", "inbox_message", "inbox_event")
        t0 = time.perf_counter()
        facts.rebuild(now)
        build = time.perf_counter() - t0
        settle(connection, "analytics_conversationfact", "analytics_responsefact")
    elif not ConversationDay.objects.exists():  # kept from bench/analytics.py --fill-only
        t0 = time.perf_counter()
        rollup.rebuild()
        build = time.perf_counter() - t0
        settle(connection, "analytics_conversationday", "analytics_waitday", "analytics_volumeday")
    if not BuyerMessageFact.objects.exists():  # the fill writes the other facts only
        t0 = time.perf_counter()
        late_rates.fill_from_messages()
        build += time.perf_counter() - t0
        settle(connection, "analytics_buyermessagefact")
    runs = [_run(days, now) for days in (90, 365)]
    print(json.dumps({"db": connection.vendor, "n": n, "fill": fill, "build": build, "runs": runs}))


def _run(days: int, now: datetime) -> dict[str, Any]:
    from django.http import QueryDict
    from django.utils import timezone, translation

    from comptoir.analytics import filters, report

    last = timezone.localtime(now).date()
    query = QueryDict(f"from={last - timedelta(days=days - 1)}&to={last}")
    steps: list[tuple[str, float, float]] = []
    marks = [("start", time.perf_counter(), time.process_time())]

    def progress(step: str) -> None:
        marks.append((step, time.perf_counter(), time.process_time()))

    with translation.override("en"):
        chosen = filters.parse(query)
        c0, t0 = time.process_time(), time.perf_counter()
        built = report.build(chosen, progress)
        progress("rendering")
        html = report.render(built)
        progress("end")
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
    for (name, t, c), (_next, t2, c2) in itertools.pairwise(marks):
        steps.append((name, t2 - t, c2 - c))
    return {
        "days": days,
        "seconds": total,
        "cpu": cpu,
        "load": os.getloadavg()[0],
        "kb": len(html.encode()) / 1024,
        "steps": steps,
    }


def main() -> None:
    parser = bench_parser(
        __doc__,
        n=100_000,
        what="conversations",
        postgres="postgres://postgres@127.0.0.1:5432/comptoir_bench_report",
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the databases (SQLite in DIR, the PostgreSQL one): a later run with the same "
        "DIR and -n (or bench/analytics.py's --keep DIR --fill-only) skips the fill",
    )
    args = parser.parse_args()
    if args.child:
        child(args.n)
        return
    postgres = postgres_of(args)
    keep = str(Path(args.keep).resolve()) if args.keep else None
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
    results = run_both(__file__, args.n, postgres, timeout=7200, keep=keep)
    print(f"Report benchmark, {args.n:,} conversations over a year, {os.cpu_count()} cores")
    rows: list[dict[str, Any]] = []
    for r in results:
        rows.append({"database": r["db"], "report / step": "(insert rows)",
                     "seconds": f"{r['fill']:.1f}", "cpu": None, "load": None, "": ""})  # fmt: skip
        rows.append(
            {"database": "", "report / step": "(build facts)", "seconds": f"{r['build']:.1f}"}
        )
        for run in r["runs"]:
            rows.append({
                "database": "",
                "report / step": f"last {run['days']} days, {run['kb']:.0f} kB",
                "seconds": f"{run['seconds']:.2f}",
                "cpu": f"{run['cpu']:.2f}",
                "load": f"{run['load']:.2f}",
                "": "" if run["seconds"] <= TARGET else "over",
            })  # fmt: skip
            for name, seconds, cpu in run["steps"]:
                rows.append({"database": "", "report / step": f"  {name}",
                             "seconds": f"{seconds:.2f}", "cpu": f"{cpu:.2f}"})  # fmt: skip
    print_table(rows)
    print(f"target at 1,000,000 conversations: the report <= {TARGET:.0f} s")


if __name__ == "__main__":
    main()
