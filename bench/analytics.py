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
rows), and the reads are timed: the overview, the per-channel table, the heatmap, the backlog
and the per-agent and per-team tables over 30 days and a year, the volume by intent over a
year. Each read is timed warm (the best of 3); CPU time of this process and the load average
are printed beside. Targets of the issue, at 1,000,000
conversations: overview <= 1 s, 30-day views <= 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from harness import run_both, settle

PARIS = ZoneInfo("Europe/Paris")  # the bench shop's timezone (the default)
OVERVIEW_TARGET = 1.0
THIRTY_DAYS_TARGET = 0.3
MARKETPLACES = ("amazon", "cdiscount", "fnac", "ebay", "darty", "shop")
BATCH = 5000


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
        filled = {**_fill(n, now), "fill": time.perf_counter() - t0, "now": now.isoformat()}
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
    print(
        json.dumps(
            {
                "db": connection.vendor,
                "n": n,
                **filled,
                "rollup_rows": rows,
                "build": build_seconds,
                "refresh": refresh_seconds,
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


def _converter(field: Any, connection: Any) -> Any:
    """How a value of this field goes to the database (None: as it is). Django's own
    preparation, through the connection proxy, costs more than the rest of the fill."""
    kind = field.get_internal_type()
    if kind == "JSONField":
        return lambda v: field.get_db_prep_save(v, connection)
    if connection.vendor == "postgresql":
        return None
    if kind == "DateTimeField":  # SQLite: naive UTC text, as Django writes it
        return lambda v: None if v is None else str(v.astimezone(UTC).replace(tzinfo=None))
    if kind == "DateField":
        return lambda v: None if v is None else v.isoformat()
    return None


class _Table:
    """Rows of a model as database values, for bulk inserts that skip the ORM: every column
    takes its default (from an unsaved instance) but the few given per row."""

    def __init__(self, model: Any, varying: Sequence[str], **fixed: Any) -> None:
        from django.db import DEFAULT_DB_ALIAS, connections

        connection = connections[DEFAULT_DB_ALIAS]
        self.model = model
        sample = model(**fixed)
        fields = [
            f for f in model._meta.concrete_fields if f.attname in varying or not f.primary_key
        ]
        self.columns = [f.column for f in fields]
        self.template = [f.get_db_prep_save(getattr(sample, f.attname), connection) for f in fields]
        position = {f.attname: i for i, f in enumerate(fields)}
        self.slots = [
            (position[name], _converter(fields[position[name]], connection)) for name in varying
        ]
        self.connection = connection

    def row(self, values: Sequence[Any]) -> list[Any]:
        """Values of the varying fields, in the order they were named."""
        out = list(self.template)
        for (i, convert), value in zip(self.slots, values, strict=True):
            out[i] = value if convert is None else convert(value)
        return out

    def insert(self, rows: Iterable[list[Any]]) -> None:
        table = self.model._meta.db_table
        columns = ", ".join(f'"{c}"' for c in self.columns)
        raw = self.connection.connection
        if self.connection.vendor == "postgresql":
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(self.columns))
            raw.executemany(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', rows)


def _fill(n: int, now: datetime) -> dict[str, int]:
    from django.db import connection, transaction

    from comptoir.accounts.models import User
    from comptoir.analytics.models import ConversationFact, ResponseFact
    from comptoir.inbox.models import Channel, Conversation, Event, Message, Shop
    from comptoir.sla.policies import policies_for

    shop = Shop.objects.create(name="Bench", slug="bench")
    channels = [
        Channel.objects.create(shop=shop, kind="api", marketplace=m, name=m) for m in MARKETPLACES
    ]
    agents = [
        User.objects.create(username=f"agent{i}", email=f"a{i}@example.com") for i in range(8)
    ]
    policies = policies_for([c.pk for c in channels])
    tables = {
        "conv": _Table(Conversation, CONVERSATION_FIELDS, shop=shop, channel=channels[0]),
        "msg": _Table(Message, MESSAGE_FIELDS, channel=channels[0]),
        "event": _Table(Event, ("conversation_id", "kind", "created_at", "data")),
        "fact": _Table(ConversationFact, FACT_FIELDS),
        "wait": _Table(ResponseFact, WAIT_FIELDS),
    }
    rng = random.Random(14)
    counts = dict.fromkeys(("conversations", "messages", "events", "waits"), 0)
    for start in range(0, n, BATCH):
        numbers = range(start + 1, min(n, start + BATCH) + 1)  # the conversations' ids
        with transaction.atomic():
            batch = _fill_batch(rng, numbers, shop, channels, agents, policies, tables, now)
        for key, value in batch.items():
            counts[key] += value
    if connection.vendor == "postgresql":
        from django.core.management.color import no_style

        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [Conversation]):
                cursor.execute(sql)
    return counts


CONVERSATION_FIELDS = (
    "id",
    "channel_id",
    "external_thread_id",
    "assignee_id",
    "intent",
    "language",
    "status",
    "first_inbound_at",
    "last_message_at",
    "resolved_at",
    "reopened_count",
    "message_count",
    "created_at",
    "updated_at",
)
FACT_FIELDS = (
    "conversation_id",
    "shop_id",
    "channel_id",
    "marketplace",
    "assignee_id",
    "intent",
    "language",
    "created_at",
    "created_day",
    "local_hour",
    "local_weekday",
    "first_inbound_at",
    "first_response_at",
    "first_response_seconds",
    "first_response_business_seconds",
    "resolved_at",
    "resolution_seconds",
    "agent_replies",
    "reopened",
    "fcr",
    "within_sla",
    "message_count",
    "computed_at",
)
WAIT_FIELDS = (
    "conversation_id",
    "shop_id",
    "channel_id",
    "marketplace",
    "assignee_id",
    "first",
    "received_at",
    "answered_at",
    "seconds",
    "business_seconds",
)
MESSAGE_FIELDS = (
    "conversation_id",
    "channel_id",
    "direction",
    "author_id",
    "is_auto",
    "delivery_state",
    "received_at",
    "created_at",
)


def _fill_batch(
    rng: random.Random,
    numbers: range,
    shop: Any,
    channels: list[Any],
    agents: list[Any],
    policies: dict[int, Any],
    tables: dict[str, _Table],
    now: datetime,
) -> dict[str, int]:
    from comptoir.analytics import facts
    from comptoir.inbox.models import Direction

    rows: dict[str, list[list[Any]]] = {key: [] for key in tables}
    for i in numbers:
        channel = channels[i % len(channels)]
        created = now - timedelta(seconds=rng.randrange(365 * 86400))
        plan = _plan(rng, created, now)
        assignee = rng.choice(agents)
        resolved = plan["resolved"]
        # What the rows need of a conversation (a model instance costs more than the rest).
        conv = SimpleNamespace(
            id=i,
            pk=i,
            shop_id=shop.pk,
            channel=channel,
            channel_id=channel.pk,
            external_thread_id=f"t{i}",
            assignee_id=assignee.pk,
            intent=rng.choice(("where_is_my_order", "return", "damaged", "")),
            language=rng.choice(("fr", "fr", "de", "en")),
            status="resolved" if resolved else "open",
            first_inbound_at=created,
            last_message_at=plan["messages"][-1][1],
            resolved_at=resolved,
            reopened_count=int(plan["reopened"] is not None),
            message_count=len(plan["messages"]),
            created_at=created,
            updated_at=now,
        )
        rows["conv"].append(tables["conv"].row([getattr(conv, f) for f in CONVERSATION_FIELDS]))
        history = facts.History()
        for direction, at, auto in plan["messages"]:
            author = None if auto or direction == "in" else assignee.pk
            state = "sent" if direction == "out" else ""
            rows["msg"].append(
                tables["msg"].row([i, channel.pk, direction, author, auto, state, at, at])
            )
            if not auto and direction in (Direction.IN, Direction.OUT):
                history.messages.append((direction, at))
        for kind, at in plan["events"]:
            data = {"status": "resolved"} if kind == "status_changed" else {}
            rows["event"].append(tables["event"].row([i, kind, at, data]))
            if kind == "reopened":
                history.reopened_at.append(at)
            else:
                history.resolved_events.append(at)
        rows["fact"].append(tables["fact"].row(_fact(conv, history, policies[channel.pk], now)))
        for k, wait in enumerate(facts.waits_of(history.messages)):
            seconds, business = _elapsed(wait, policies[channel.pk])
            where = [i, shop.pk, channel.pk, channel.marketplace, assignee.pk, k == 0]
            when = [wait.received_at, wait.answered_at, seconds, business]
            rows["wait"].append(tables["wait"].row([*where, *when]))
    for key, table in tables.items():
        table.insert(rows[key])
    return {
        "conversations": len(rows["conv"]),
        "messages": len(rows["msg"]),
        "events": len(rows["event"]),
        "waits": len(rows["wait"]),
    }


def _elapsed(wait: Any, policy: Any) -> tuple[float | None, float | None]:
    from comptoir.lib import businesstime

    if wait.answered_at is None:
        return None, None
    calendar = (wait.answered_at - wait.received_at).total_seconds()
    business = businesstime.elapsed(policy.calendar, wait.received_at, wait.answered_at)
    return calendar, business.total_seconds()


def _fact(conv: Any, history: Any, policy: Any, now: datetime) -> list[Any]:
    """FACT_FIELDS of one conversation, as `facts.conversation_fact` computes them (without
    its model instances, which would double the fill's time)."""
    from comptoir.analytics import facts

    waits = facts.waits_of(history.messages)
    first = waits[0] if waits else None
    seconds, business = _elapsed(first, policy) if first else (None, None)
    local = conv.created_at.astimezone(PARIS)
    replies = [at for direction, at in history.messages if direction == "out"]
    resolved = conv.resolved_at
    start = history.messages[0][1]
    return [
        conv.pk,
        conv.shop_id,
        conv.channel_id,
        conv.channel.marketplace,
        conv.assignee_id,
        conv.intent,
        conv.language,
        conv.created_at,
        local.date(),
        local.hour,
        local.weekday(),
        start,
        first.answered_at if first else None,
        seconds,
        business,
        resolved,
        (resolved - start).total_seconds() if resolved else None,
        len(replies),
        conv.reopened_count > 0,
        facts._fcr(conv, history, replies),
        facts._within_sla(first, policy, False, now),
        conv.message_count,
        now,
    ]


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
        if rng.random() < 0.6:
            msgs.append(("note", at + timedelta(minutes=5), False))
        for _ in range(rng.choices((0, 1, 2, 3), (35, 35, 20, 10))[0]):
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
                if resolved is not None and resolved <= now:
                    events.append(("status_changed", resolved))
    msgs = sorted((m for m in msgs if m[1] <= now), key=lambda m: m[1])
    if resolved is not None and resolved > now:
        resolved = None
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
    postgres = None if args.no_postgres else args.postgres
    keep = str(Path(args.keep).resolve()) if args.keep else None
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
    more = ["--fill-only"] if args.fill_only else []
    results = run_both(__file__, args.n, postgres, timeout=7200, keep=keep, args=more)
    if not args.fill_only:
        report(results)


def report(results: list[dict[str, Any]]) -> None:
    print(f"Analytics benchmark, {results[0]['n']:,} conversations, {os.cpu_count()} cores")
    for r in results:
        print(
            f"{r['db']}: {r.get('facts', r['conversations']):,} conversations' facts, "
            f"{r['waits']:,} waits, {r['rollup_rows']:,} rollup rows; raw rows: "
            f"{r['conversations']:,} conversations, {r['messages']:,} messages, "
            f"{r['events']:,} events"
        )
    print(f"{'database':<12}{'step':<30}{'seconds':>9}{'cpu':>8}{'load':>7}{'target':>8}")
    for r in results:
        print(f"{r['db']:<12}{'(insert rows and facts)':<30}{r['fill']:>9.1f}")
        print(f"{'':<12}{'(build the daily rollup)':<30}{r['build']:>9.1f}")
        print(f"{'':<12}{'(worker: refresh 500 latest)':<30}{r['refresh']:>9.2f}")
        for t in r["reads"]:
            mark = "" if t["seconds"] <= t["target"] else "  over"
            print(
                f"{'':<12}{t['label']:<30}{t['seconds']:>9.3f}{t['cpu']:>8.3f}"
                f"{t['load']:>7.2f}{t['target']:>8.1f}{mark}"
            )
    print("targets are for 1,000,000 conversations: overview <= 1 s, 30-day views <= 0.3 s")


if __name__ == "__main__":
    main()
