"""The marketplaces' late-response rates (`sla.metrics.all_rates`) over N conversations, on
SQLite and PostgreSQL side by side.

    .venv/bin/python bench/late_rates.py [-n 100000] [--repeat 3] [--explain]
                                         [--postgres URL | --no-postgres]

The history is `bench/analytics.py`'s (six channels over the last year: five marketplaces and
the shop's own mail, counted in business hours; bulk inserted), with 3% of the conversations
marked "no response needed" and 2% of the replies failed, so that every rule has rows to count.
`all_rates` is then timed over the six channels, on the raw messages (the SLA page's count) and
on analytics' buyer-message facts (the analytics pages' and the report's; filled in one
statement first), warm (the best of `--repeat`), with this
process's CPU time (on SQLite the database's work included, on PostgreSQL the server's left
out) and the load average beside. The counts are printed with a digest, so that two versions can
be checked to count the same. `--explain` prints the plan of the slowest query (EXPLAIN ANALYZE on
PostgreSQL, EXPLAIN QUERY PLAN on SQLite). The target: <= 1 s at 1,000,000 conversations.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from datetime import UTC, datetime
from typing import Any

from harness import bench_parser, fill_conversations, postgres_of, print_table, run_both, settle

TARGET = 1.0


def child(n: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = time.perf_counter()
    fill_conversations(n, now)
    _mark_and_fail(now)
    fill = time.perf_counter() - t0
    settle(connection, "inbox_conversation", "inbox_message", "inbox_event")
    repeat = int(os.environ.get("BENCH_REPEAT", "3"))
    best, cpu, counts = _time(now, repeat)
    plan = _explain(now) if os.environ.get("BENCH_EXPLAIN") else []
    from comptoir.analytics import late_rates

    t0 = time.perf_counter()
    late_rates.fill_from_messages()
    facts_fill = time.perf_counter() - t0
    facts_best, facts_cpu, facts_counts = _time(now, repeat, late_rates.FACTS)
    print(
        json.dumps(
            {
                "db": connection.vendor,
                "n": n,
                "messages": _count("inbox_message"),
                "fill": fill,
                "seconds": best,
                "cpu": cpu,
                "load": os.getloadavg()[0],
                "counts": counts,
                "plan": plan,
                "facts_fill": facts_fill,
                "facts_seconds": facts_best,
                "facts_cpu": facts_cpu,
                "facts_same": facts_counts == counts,
            }
        )
    )


def _mark_and_fail(now: datetime) -> None:
    """Some "no response needed" marks (before or after the reply) and failed replies."""
    from comptoir.inbox.models import DeliveryState, Direction, Event, EventKind, Message

    rng = random.Random(7)
    marks = []
    buyers = Message.objects.filter(direction=Direction.IN).order_by("pk")
    for conv_id, created in buyers.values_list("conversation_id", "created_at"):
        if rng.random() < 0.03:
            at = created + (now - created) * rng.random() * 0.02
            kind = EventKind.NO_RESPONSE_NEEDED
            marks.append(Event(conversation_id=conv_id, kind=kind, created_at=at))
    Event.objects.bulk_create(marks, batch_size=5000)
    replies = Message.objects.filter(direction=Direction.OUT, is_auto=False)
    ids = replies.order_by("pk").values_list("pk", flat=True)
    failed = [pk for pk in ids if rng.random() < 0.02]
    for start in range(0, len(failed), 5000):
        Message.objects.filter(pk__in=failed[start : start + 5000]).update(
            delivery_state=DeliveryState.FAILED
        )


def _channels() -> Any:
    from comptoir.inbox.models import Channel

    return Channel.objects.order_by("pk")


def _time(now: datetime, repeat: int, source: Any = None) -> tuple[float, float, list[Any]]:
    from comptoir.sla.metrics import RAW, all_rates

    best, cpu, counts = float("inf"), 0.0, []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        rates = all_rates(_channels(), now=now, source=source or RAW)
        seconds = time.perf_counter() - t0
        if seconds < best:
            best, cpu = seconds, time.process_time() - c0
        counts = [
            [r.marketplace, [[p.days, p.late, p.on_time, p.pending, p.excluded] for p in r.periods]]
            for r in rates
        ]
    return best, cpu, counts


def _explain(now: datetime) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from comptoir.sla.metrics import all_rates

    with CaptureQueriesContext(connection) as captured:
        all_rates(_channels(), now=now)
    slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
    sql = slowest["sql"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        rows = cursor.fetchall()
    return [f"slowest query ({float(slowest['time']):.3f} s): {sql[:3000]}", *(r[-1] for r in rows)]


def _count(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        return int(cursor.fetchone()[0])


def main() -> None:
    parser = bench_parser(
        __doc__,
        n=100_000,
        what="conversations",
        postgres="postgres://postgres@127.0.0.1:5432/comptoir_bench_late_rates",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs, the best kept (3)")
    parser.add_argument("--explain", action="store_true", help="print the slowest query's plan")
    args = parser.parse_args()
    if args.child:
        child(args.n)
        return
    os.environ["BENCH_REPEAT"] = str(args.repeat)
    if args.explain:
        os.environ["BENCH_EXPLAIN"] = "1"
    postgres = postgres_of(args)
    results = run_both(__file__, args.n, postgres, timeout=7200)
    print(f"Late-response rates benchmark, {args.n:,} conversations, {os.cpu_count()} cores")
    print_table([
        {
            "database": r["db"],
            "messages": r["messages"],
            "fill": f"{r['fill']:.1f}",
            "raw s": r["seconds"],
            "raw cpu": r["cpu"],
            "facts s": r["facts_seconds"],
            "facts cpu": r["facts_cpu"],
            "same counts": "yes" if r["facts_same"] else "NO",
            "facts fill": f"{r['facts_fill']:.1f}",
            "load": f"{r['load']:.2f}",
        }
        for r in results
    ])  # fmt: skip
    for r in results:
        digest = hashlib.sha256(json.dumps(r["counts"]).encode()).hexdigest()[:12]
        print(f"{r['db']} counts (digest {digest}):")
        for marketplace, periods in r["counts"]:
            cells = "  ".join(f"{d}d {la}/{on}/{pe}/{ex}" for d, la, on, pe, ex in periods)
            print(f"  {marketplace:<10} late/on time/pending/excluded  {cells}")
        for line in r["plan"]:
            print(line)
    print(f"target: all_rates <= {TARGET:.0f} s at 1,000,000 conversations")


if __name__ == "__main__":
    main()
