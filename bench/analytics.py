"""The analytics figures over N conversations, on SQLite and PostgreSQL side by side.

    .venv/bin/python bench/analytics.py [-n 100000] [--postgres URL | --no-postgres]

Conversations are spread over the last year on six channels (five marketplaces and the shop's
own mail, counted in business hours), each with its buyer message, an auto-acknowledgement for a
third, an agent's reply, for some a second exchange, a resolution, a reopen. They are written
with bulk inserts (ingest would take hours), then the facts are built (`facts.rebuild`, timed)
and the reads timed: the overview over 30 days and over a year, the per-channel table over 30
days. Each read is timed warm (the best of 3); CPU time of this process and the load average
are printed beside. Targets of the issue, at 1,000,000 conversations: overview <= 1 s, 30-day
views <= 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import run_both, settle

OVERVIEW_TARGET = 1.0
THIRTY_DAYS_TARGET = 0.3
MARKETPLACES = ("amazon", "cdiscount", "fnac", "ebay", "darty", "shop")
BATCH = 5000


def child(n: int) -> None:
    """Runs inside a process whose DATABASE_URL points at an empty database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = time.perf_counter()
    _fill(n, now)
    fill_seconds = time.perf_counter() - t0
    settle(connection, "inbox_conversation", "inbox_message", "inbox_event")

    from comptoir.analytics import facts

    t0 = time.perf_counter()
    built = facts.rebuild(now)
    build_seconds = time.perf_counter() - t0
    settle(connection, "analytics_conversationfact", "analytics_responsefact")
    print(
        json.dumps(
            {
                "db": connection.vendor,
                "n": n,
                "facts": built,
                "fill": fill_seconds,
                "build": build_seconds,
                "reads": _reads(now),
            }
        )
    )


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


def _fill(n: int, now: datetime) -> None:
    from comptoir.accounts.models import User
    from comptoir.inbox.models import Channel, Shop

    shop = Shop.objects.create(name="Bench", slug="bench")
    channels = [
        Channel.objects.create(shop=shop, kind="api", marketplace=m, name=m) for m in MARKETPLACES
    ]
    agents = [User.objects.create_user(f"agent{i}", f"a{i}@example.com", "pw") for i in range(8)]
    rng = random.Random(14)
    for start in range(0, n, BATCH):
        _fill_batch(rng, range(start, min(n, start + BATCH)), shop.pk, channels, agents, now)


def _fill_batch(
    rng: random.Random,
    numbers: range,
    shop_id: int,
    channels: list[Any],
    agents: list[Any],
    now: datetime,
) -> None:
    from comptoir.inbox.models import Conversation, Event, Message

    convs, plans = [], []
    for i in numbers:
        channel = channels[i % len(channels)]
        created = now - timedelta(seconds=rng.randrange(365 * 86400))
        plan = _plan(rng, created, now)
        convs.append(
            Conversation(
                shop_id=shop_id,
                channel=channel,
                external_thread_id=f"t{i}",
                assignee=rng.choice(agents),
                intent=rng.choice(("where_is_my_order", "return", "damaged", "")),
                language=rng.choice(("fr", "fr", "de", "en")),
                status="resolved" if plan["resolved"] else "open",
                resolved_at=plan["resolved"],
                reopened_count=int(plan["reopened"] is not None),
                message_count=len(plan["messages"]),
                created_at=created,
            )
        )
        plans.append(plan)
    convs = Conversation.objects.bulk_create(convs)
    messages, events = [], []
    for conv, plan in zip(convs, plans, strict=True):
        for direction, at, auto in plan["messages"]:
            messages.append(
                Message(
                    conversation=conv,
                    channel_id=conv.channel_id,
                    direction=direction,
                    author_id=None if auto or direction == "in" else conv.assignee_id,
                    is_auto=auto,
                    delivery_state="sent" if direction == "out" else "",
                    created_at=at,
                    received_at=at,
                )
            )
        for kind, at in plan["events"]:
            data = {"status": "resolved"} if kind == "status_changed" else {}
            events.append(Event(conversation=conv, kind=kind, created_at=at, data=data))
    Message.objects.bulk_create(messages, batch_size=BATCH)
    Event.objects.bulk_create(events, batch_size=BATCH)


def _plan(rng: random.Random, created: datetime, now: datetime) -> dict[str, Any]:
    """One conversation's history: messages (direction, at, automatic) and events."""
    msgs: list[tuple[str, datetime, bool]] = [("in", created, False)]
    events: list[tuple[str, datetime]] = []
    if rng.random() < 0.33:
        msgs.append(("out", created + timedelta(minutes=1), True))
    at = created + timedelta(hours=rng.expovariate(1 / 14))
    resolved, reopened = None, None
    if at < now:
        msgs.append(("out", at, False))
        if rng.random() < 0.3:
            at += timedelta(hours=rng.uniform(1, 30))
            msgs.append(("in", at, False))
            at += timedelta(hours=rng.expovariate(1 / 10))
            msgs.append(("out", at, False))
        if rng.random() < 0.7 and at + timedelta(hours=1) < now:
            resolved = at + timedelta(hours=1)
            events.append(("status_changed", resolved))
            if rng.random() < 0.07:
                reopened = resolved + timedelta(days=rng.uniform(0.5, 12))
                events.append(("reopened", reopened))
                resolved = None if reopened > now else reopened + timedelta(hours=2)
    msgs = [m for m in msgs if m[1] <= now]
    return {
        "messages": msgs,
        "events": [e for e in events if e[1] <= now],
        "resolved": resolved,
        "reopened": reopened,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="conversations (100,000)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--postgres",
        default="postgres://postgres@127.0.0.1:5432/comptoir_bench_analytics",
        help="PostgreSQL server URL; the database is dropped and created",
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.n)
        return
    postgres = None if args.no_postgres else args.postgres
    results = run_both(__file__, args.n, postgres, timeout=7200)
    print(f"Analytics benchmark, {args.n:,} conversations, {os.cpu_count()} cores")
    print(f"{'database':<12}{'step':<24}{'seconds':>9}{'cpu':>8}{'load':>7}{'target':>8}")
    for r in results:
        print(f"{r['db']:<12}{'(insert rows)':<24}{r['fill']:>9.2f}")
        print(f"{'':<12}{'(build facts)':<24}{r['build']:>9.2f}")
        for t in r["reads"]:
            mark = "" if t["seconds"] <= t["target"] else "  over"
            print(
                f"{'':<12}{t['label']:<24}{t['seconds']:>9.3f}{t['cpu']:>8.3f}"
                f"{t['load']:>7.2f}{t['target']:>8.1f}{mark}"
            )
    print("targets are for 1,000,000 conversations: overview <= 1 s, 30-day views <= 0.3 s")


if __name__ == "__main__":
    main()
