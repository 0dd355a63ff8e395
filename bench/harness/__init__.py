"""What the benchmarks share: each measures in child processes, one per database, so that a
run starts cold and SQLite and PostgreSQL are compared in one go."""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

# The repository (bench/harness/__init__.py is three levels down): its src/ goes first on the
# children's path, or they would run the installed copy's code instead of this tree's.
ROOT = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")  # the bench shop's timezone (the default)
MARKETPLACES = ("amazon", "cdiscount", "fnac", "ebay", "darty", "shop")
FILL_BATCH = 5000


def settle(connection: Any, *tables: str) -> None:
    """Write out the WAL and the statistics before timing, so that a checkpoint or an autovacuum
    the set-up triggered does not run during (and get billed to) what is measured."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("CHECKPOINT")
            cursor.execute(f"VACUUM ANALYZE {', '.join(tables)}" if tables else "VACUUM ANALYZE")
        else:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute("ANALYZE")


def recreate_postgres(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _exists(url: str) -> bool:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres") as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return found is not None


def _run(
    script: str, label: str, env: dict[str, str], n: int, timeout: int, args: list[str]
) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, script, "--child", "-n", str(n), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{label} run failed:\n{proc.stderr[-3000:]}")
    line = proc.stdout.strip().splitlines()[-1]
    print(f"{label}: {line}", file=sys.stderr, flush=True)  # kept even if the next run fails
    return dict(json.loads(line))


def run_both(
    script: str,
    n: int,
    postgres: str | None,
    *,
    timeout: int = 1800,
    keep: str | None = None,
    args: list[str] | None = None,
    sqlite: bool = True,
) -> list[dict[str, Any]]:
    """Run `script --child -n N` on a fresh SQLite file (unless not `sqlite`), then on the
    PostgreSQL database at `postgres` (dropped and created) unless it is None; returns each
    child's last JSON line.
    With `keep` (a directory), the SQLite file lives there and the PostgreSQL database is kept:
    a later run with the same `keep` finds them as the previous one left them."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = keep or tmp
        base = {
            **os.environ,
            "COMPTOIR_DATA_DIR": data_dir,
            "COMPTOIR_TASKS_BACKEND": "db",
            "COMPTOIR_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT / "src"),
        }
        more = args or []
        if sqlite:
            results.append(_run(script, "SQLite", {**base, "DATABASE_URL": ""}, n, timeout, more))
        if postgres:
            if not (keep and _exists(postgres)):
                recreate_postgres(postgres)
            env = {**base, "DATABASE_URL": postgres}
            results.append(_run(script, "PostgreSQL", env, n, timeout, more))
    return results


def start_django() -> None:
    """In a child: Django set up and its (empty) database migrated."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def bench_channel() -> Any:
    """A shop and an Amazon API channel to ingest into."""
    from comptoir.inbox.models import Channel, Shop

    shop = Shop.objects.create(name="Bench", slug="bench")
    return Channel.objects.create(shop=shop, kind="api", marketplace="amazon", name="bench")


def print_table(rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows (column name -> value; the columns in the order they first appear, a row without
    one leaves it blank) as an aligned table.
    Numbers are right-aligned, ints with thousands separators, floats with 3 decimals; None
    prints blank; a string is printed as it is (format a figure yourself that way)."""
    if not rows:
        return
    columns = list(dict.fromkeys(c for row in rows for c in row))

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(value)
        return f"{value:,}" if isinstance(value, int) else f"{value:,.3f}"

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    right = [all(_numeric(row.get(c)) for row in rows if row.get(c) is not None) for c in columns]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ]
        return "  ".join(parts).rstrip()

    print(line(columns))
    for r in cells:
        print(line(r))


def _numeric(value: Any) -> bool:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return True
    text = str(value).strip().removesuffix("%").replace(",", "").replace(".", "", 1)
    return text.lstrip("-").isdigit()


# -- the history the analytics benchmarks share ------------------------------------------------


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


def fill_conversations(n: int, now: datetime | None = None) -> dict[str, int]:
    """In a child (Django set up, migrated, empty): N conversations spread over the year
    before `now` on six channels with about five messages each, their events, and their facts
    and waits as the worker computes them, bulk inserted (COPY on PostgreSQL, `executemany` on
    SQLite). The rollup is not built. Returns the rows written per table."""
    now = now or datetime.now(UTC).replace(microsecond=0)
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
    for start in range(0, n, FILL_BATCH):
        numbers = range(start + 1, min(n, start + FILL_BATCH) + 1)  # the conversations' ids
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


def bench_parser(doc: str | None, *, n: int, what: str, postgres: str) -> argparse.ArgumentParser:
    """The options of every bench that runs itself on both databases (`run_both`): `-n`, the
    hidden `--child`, `--postgres URL` (that database is dropped and created) and
    `--no-postgres`; a bench adds its own."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    parser.add_argument("-n", type=int, default=n, help=f"{what} ({n:,})")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--postgres",
        default=postgres,
        help="PostgreSQL server URL; the database is dropped and created",
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    return parser


def postgres_of(args: argparse.Namespace) -> str | None:
    return None if args.no_postgres else str(args.postgres)


def backend_cpu(connection: Any) -> Any:
    """A function returning the CPU seconds the database server has spent for `connection` so
    far: its backend process's on PostgreSQL (a local server: /proc), None elsewhere (SQLite
    runs in the process, which counts it). The server's share of a shared machine's cores."""
    if connection.vendor != "postgresql":
        return lambda: None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():  # a server on another machine
        return lambda: None
    tick = os.sysconf("SC_CLK_TCK")

    def seconds() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    return seconds


def machine_reference_ms(rounds: int = 5) -> float:
    """CPU milliseconds of a fixed pure-Python workload (JSON, sorting, string building: what a
    page's CPU is made of), the fastest of `rounds`. Machines of one kind differ several times
    over in CPU per request; printed beside the figures, it says how fast this one was, so
    that figures from two machines compare (the same Python is assumed)."""
    import json

    data = {f"k{i}": [i, str(i) * 3, {"x": i / 7}] for i in range(2000)}
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(10):
            back = json.loads(json.dumps(data))
            keys = sorted(back, key=lambda k: back[k][1])
            "".join(f"<td>{k}</td><td>{back[k][2]['x']:.2f}</td>" for k in keys)
        best = min(best, time.process_time() - start)
    return best * 1000
