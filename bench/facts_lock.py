"""How long a facts refresh holds its conversations locked, and what ingest does meanwhile.

    .venv/bin/python bench/facts_lock.py [-n 20000] [--lots 40] [--postgres URL | --no-postgres]

`analytics.facts` locks a batch's conversations (`select_for_update`, up to `facts.BATCH`)
before it reads their rows, and keeps them locked until its transaction commits: the read of
the raw rows, the computation, the delete and insert of the facts, the rollup's dirty marks.
N conversations are filled as in `bench/analytics.py`; then lots of conversations (the worker's
usual: the 5 of one ingest transaction, 100, and a full batch of 500) are refreshed, each
refresh timed from the moment its lock is granted to its commit (p50, p95, max per lot size,
with CPU time and the load). Then, on PostgreSQL, ingest's two writes on a locked conversation
(a new message, which takes a key-share lock on its conversation, and the conversation's
update) are run from a second connection while a batch of 500 holds its lock: how long each
waited is printed. On SQLite a writer waits for any other writer, whatever the rows.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from datetime import UTC, datetime
from typing import Any

from harness import bench_parser, fill_conversations, postgres_of, print_table, run_both, settle


def child(n: int, lots: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from comptoir.analytics import facts
    from comptoir.inbox.models import Conversation

    now = datetime.now(UTC).replace(microsecond=0)
    fill_conversations(n, now)
    settle(connection)
    ids = list(Conversation.objects.order_by("-pk").values_list("pk", flat=True)[: lots * 500])
    holds: dict[int, list[float]] = {}
    cpu: dict[int, float] = {}
    for size in (5, 100, 500):
        held: list[float] = []
        c0 = time.process_time()
        for k in range(lots):
            lot = ids[k * size : (k + 1) * size]
            held.append(_hold(lambda lot=lot: facts._refresh_batch(lot, now, True)))  # type: ignore[misc]
        cpu[size] = (time.process_time() - c0) / lots
        holds[size] = held
    blocked = _blocked(ids[:500], now) if connection.vendor == "postgresql" else {}
    print(
        json.dumps({
            "db": connection.vendor,
            "n": n,
            "holds": holds,
            "cpu": cpu,
            "load": os.getloadavg()[0],
            "blocked": blocked,
        })
    )  # fmt: skip


def _hold(refresh: Any) -> float:
    """Seconds from the lock granted (its statement returned) to the commit. SQLite has no
    row lock: its transaction (begun immediate, the database's write lock) from its first
    statement."""
    from django.db import connection

    granted: list[float] = []
    sqlite = connection.vendor == "sqlite"

    def watch(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sqlite and not granted:
            granted.append(time.perf_counter())
        result = execute(sql, params, many, context)
        if "FOR UPDATE" in sql and not granted:
            granted.append(time.perf_counter())
        return result

    with connection.execute_wrapper(watch):
        refresh()
    return time.perf_counter() - granted[0]


def _blocked(lot: list[int], now: datetime) -> dict[str, float]:
    """Ingest's writes on a conversation of a batch being refreshed, from another connection:
    how long each waited, and how long the batch held its lock."""
    from django.db import connection, connections, transaction

    from comptoir.analytics import facts
    from comptoir.inbox.models import Conversation, Message

    locked = threading.Event()
    out: dict[str, float] = {}

    def watch(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if "FOR UPDATE" in sql:
            locked.set()
        return result

    def ingest() -> None:
        locked.wait()
        try:
            conv = Conversation.objects.get(pk=lot[-1])
            t0 = time.perf_counter()
            with transaction.atomic():
                Message.objects.create(
                    conversation=conv, channel_id=conv.channel_id, direction="in", text="bench"
                )
            out["message insert waited"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            Conversation.objects.filter(pk=conv.pk).update(updated_at=now)
            out["conversation update waited"] = time.perf_counter() - t0
        finally:
            connections.close_all()

    writer = threading.Thread(target=ingest)
    writer.start()
    with connection.execute_wrapper(watch):
        out["batch of 500 held its lock"] = _hold(lambda: facts._refresh_batch(lot, now, True))
    writer.join()
    return out


def main() -> None:
    parser = bench_parser(
        __doc__,
        n=20_000,
        what="conversations",
        postgres="postgres://postgres@127.0.0.1:5432/comptoir_bench_facts_lock",
    )
    parser.add_argument("--lots", type=int, default=40, help="refreshes per lot size (40)")
    args = parser.parse_args()
    if args.child:
        child(args.n, args.lots)
        return
    results = run_both(__file__, args.n, postgres_of(args), args=["--lots", str(args.lots)])
    print(f"Facts refresh: lock held, {args.n:,} conversations, {os.cpu_count()} cores")
    rows: list[dict[str, Any]] = []
    for r in results:
        for size, held in r["holds"].items():
            ms = sorted(1000 * h for h in held)
            rows.append({
                "database": r["db"],
                "conversations locked": int(size),
                "p50 ms": statistics.median(ms),
                "p95 ms": ms[max(0, round(0.95 * len(ms)) - 1)],
                "max ms": ms[-1],
                "cpu ms / refresh": 1000 * r["cpu"][size],
                "load": r["load"],
            })  # fmt: skip
    print_table(rows)
    for r in results:
        for what, seconds in r["blocked"].items():
            print(f"{r['db']}: {what}: {1000 * seconds:.0f} ms")


if __name__ == "__main__":
    main()
