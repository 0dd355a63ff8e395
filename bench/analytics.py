"""The analytics figures over N conversations, on SQLite and PostgreSQL side by side.

    .venv/bin/python bench/analytics.py [-n 100000] [--postgres URL | --no-postgres]

Conversations are spread over the last year on six channels (five marketplaces and the shop's
own mail, counted in business hours), about five messages each: the buyer's message, an
auto-acknowledgement for a third, an agent's reply, up to three more exchanges, an internal
note for some; a resolution, a reopen. The raw rows (conversations, messages, events) are
written with bulk inserts straight into the tables (COPY on PostgreSQL; ingest would take
days), and so are the facts: each conversation's fact and waits are computed in this process by
`facts.conversation_fact` (the worker's own computation) from the same history, not read back
from the database. Then the daily rollup is built from the facts (`rollup.rebuild`, timed), a
worker's refresh of 500 recent conversations is timed (facts and rollup slices, from the raw
rows), then the worker behind 100 ingest transactions of 5 conversations each, its rollup
summed per transaction against once per pass (the slices marked dirty), and the reads are
timed: the overview, the per-channel table, the heatmap, the backlog and the per-agent and
per-team tables over 30 days and a year, the volume by intent over a year. Each read is timed
warm (the best of 3); CPU time of this process and the load average are printed beside.
Targets of the issue, at 1,000,000 conversations: overview <= 1 s, 30-day views <= 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import bench_parser, fill_conversations, postgres_of, print_table, run_both, settle

OVERVIEW_TARGET = 1.0
THIRTY_DAYS_TARGET = 0.3


def child(n: int, fill_only: bool, no_fill: bool = False) -> None:
    """Runs inside a process whose DATABASE_URL points at an empty database (or, with --keep,
    at the one a previous run filled: then the fill is not done again)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from comptoir.analytics.models import ConversationFact

    saved = Path(os.environ["COMPTOIR_DATA_DIR"]) / f"fill-{connection.vendor}.json"
    if ConversationFact.objects.count() == n and saved.exists():
        filled = json.loads(saved.read_text())
        now = datetime.fromisoformat(filled["now"])
    elif no_fill:  # measure what a fill that did not finish left
        filled = _found()
        now = datetime.fromisoformat(filled["now"])
    else:
        now = datetime.now(UTC).replace(microsecond=0)
        t0 = time.perf_counter()
        filled = {**fill_conversations(n, now), "fill": time.perf_counter() - t0}
        filled["now"] = now.isoformat()
        settle(connection, "inbox_conversation", "inbox_message", "inbox_event")
        settle(connection, "analytics_conversationfact", "analytics_responsefact")
        saved.write_text(json.dumps(filled))
    if fill_only:
        print(json.dumps({"db": connection.vendor, **filled}))
        return

    from comptoir.analytics import facts, rollup

    t0 = time.perf_counter()
    rows = rollup.rebuild()
    build_seconds = time.perf_counter() - t0
    settle(connection, "analytics_conversationday", "analytics_waitday", "analytics_volumeday")
    from comptoir.inbox.models import Conversation

    latest = Conversation.objects.order_by("-created_at")[:500]
    recent = list(latest.values_list("pk", flat=True))  # the worker's usual lot
    t0 = time.perf_counter()
    facts.refresh(recent, now)
    refresh_seconds = time.perf_counter() - t0
    # The worker behind 100 ingest transactions of 5 conversations each: the rollup summed per
    # transaction (each facts task recomputing its days) against once per pass (marked dirty).
    lots = [recent[i : i + 5] for i in range(0, len(recent), 5)]
    t0 = time.perf_counter()
    for lot in lots:
        facts.refresh(lot, now)
    per_transaction = time.perf_counter() - t0
    t0 = time.perf_counter()
    for lot in lots:
        facts.refresh(lot, now, rollup_now=False)
    rollup.refresh_dirty()
    batched = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "db": connection.vendor,
                "n": n,
                **filled,
                "rollup_rows": rows,
                "build": build_seconds,
                "refresh": refresh_seconds,
                "per_transaction": per_transaction,
                "batched": batched,
                "lots": len(lots),
                "reads": _reads(now),
            }
        )
    )


def _found() -> dict[str, Any]:
    from django.db.models import Max

    from comptoir.analytics.models import ConversationFact, ResponseFact
    from comptoir.inbox.models import Conversation, Event, Message

    return {
        "facts": ConversationFact.objects.count(),
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
        "events": Event.objects.count(),
        "waits": ResponseFact.objects.count(),
        "fill": 0.0,
        "now": ConversationFact.objects.aggregate(at=Max("computed_at"))["at"].isoformat(),
    }


def _reads(now: datetime) -> list[dict[str, Any]]:
    from comptoir.analytics import kpis
    from comptoir.analytics.period import Filters, Period

    month, year = Period(now - timedelta(days=30), now), Period(now - timedelta(days=365), now)
    timings = []
    for label, run, target in (
        ("overview, 30 days", lambda: kpis.overview(month, Filters()), THIRTY_DAYS_TARGET),
        ("overview, a year", lambda: kpis.overview(year, Filters()), OVERVIEW_TARGET),
        ("per channel, 30 days", lambda: kpis.per_channel(month, Filters()), THIRTY_DAYS_TARGET),
        ("per channel, a year", lambda: kpis.per_channel(year, Filters()), OVERVIEW_TARGET),
        ("intents, a year", lambda: kpis.volume(year, Filters(), "intent"), OVERVIEW_TARGET),
        ("heatmap, 30 days", lambda: kpis.heatmap(month, Filters()), THIRTY_DAYS_TARGET),
        ("heatmap, a year", lambda: kpis.heatmap(year, Filters()), OVERVIEW_TARGET),
        ("backlog, 30 days", lambda: kpis.backlog(month, Filters()), THIRTY_DAYS_TARGET),
        ("backlog, a year", lambda: kpis.backlog(year, Filters()), OVERVIEW_TARGET),
        ("per agent, 30 days", lambda: kpis.per_agent(month, Filters()), THIRTY_DAYS_TARGET),
        ("per agent, a year", lambda: kpis.per_agent(year, Filters()), OVERVIEW_TARGET),
        ("per team, 30 days", lambda: kpis.per_team(month, Filters()), THIRTY_DAYS_TARGET),
        ("per team, a year", lambda: kpis.per_team(year, Filters()), OVERVIEW_TARGET),
    ):
        best, cpu = float("inf"), 0.0
        for _ in range(3):
            c0, t0 = time.process_time(), time.perf_counter()
            run()
            seconds = time.perf_counter() - t0
            if seconds < best:
                best, cpu = seconds, time.process_time() - c0
        timings.append(
            {
                "label": label,
                "seconds": best,
                "cpu": cpu,
                "load": os.getloadavg()[0],
                "target": target,
            }
        )
    return timings


def main() -> None:
    parser = bench_parser(
        __doc__,
        n=100_000,
        what="conversations",
        postgres="postgres://postgres@127.0.0.1:5432/comptoir_bench_analytics",
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the databases (SQLite in DIR, the PostgreSQL one): a later run with the same "
        "DIR and -n skips the fill and measures the rollup and the reads again",
    )
    parser.add_argument("--fill-only", action="store_true", help="only fill (with --keep)")
    parser.add_argument("--no-fill", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", nargs="+", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.n, args.fill_only, args.no_fill)
        return
    if args.report:  # the children's JSON lines, run one by one
        report([json.loads(Path(f).read_text().strip().splitlines()[-1]) for f in args.report])
        return
    postgres = postgres_of(args)
    keep = str(Path(args.keep).resolve()) if args.keep else None
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
    more = ["--fill-only"] if args.fill_only else []
    results = run_both(__file__, args.n, postgres, timeout=7200, keep=keep, args=more)
    if not args.fill_only:
        report(results)


def _opt(r: dict[str, Any], key: str) -> str:
    return f"{r[key]:.2f}" if key in r else ""


def report(results: list[dict[str, Any]]) -> None:
    print(f"Analytics benchmark, {results[0]['n']:,} conversations, {os.cpu_count()} cores")
    for r in results:
        print(
            f"{r['db']}: {r.get('facts', r['conversations']):,} conversations' facts, "
            f"{r['waits']:,} waits, {r['rollup_rows']:,} rollup rows; raw rows: "
            f"{r['conversations']:,} conversations, {r['messages']:,} messages, "
            f"{r['events']:,} events"
        )
    rows: list[dict[str, Any]] = []
    for r in results:
        for step, seconds in (
            ("(insert rows and facts)", f"{r['fill']:.1f}"),
            ("(build the daily rollup)", f"{r['build']:.1f}"),
            ("(worker: refresh 500 latest)", f"{r['refresh']:.2f}"),
            (f"(worker: {r.get('lots', 0)} tasks of 5, rollup each)", _opt(r, "per_transaction")),
            (f"(worker: {r.get('lots', 0)} tasks of 5, one pass)", _opt(r, "batched")),
        ):
            rows.append({"database": r["db"] if not rows or step.startswith("(insert") else "",
                         "step": step, "seconds": seconds})  # fmt: skip
        for t in r["reads"]:
            mark = "" if t["seconds"] <= t["target"] else "over"
            rows.append({
                "database": "",
                "step": t["label"],
                "seconds": t["seconds"],
                "cpu": t["cpu"],
                "load": f"{t['load']:.2f}",
                "target": f"{t['target']:.1f}",
                "": mark,
            })  # fmt: skip
    print_table(rows)
    print("targets are for 1,000,000 conversations: overview <= 1 s, 30-day views <= 0.3 s")


if __name__ == "__main__":
    main()
