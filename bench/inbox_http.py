"""The agent's pages over HTTP at scale: inbox, searches and a conversation, 10 clients at once.

    .venv/bin/python bench/inbox_http.py [--postgres [URL]] [--rebuild] [--seconds S]
        [--clients N] [--workers N]

Builds (once; `--rebuild` to start again) a database of 100,000 conversations and 500,000
messages with buyers, identities, orders, tags and text in five languages, written with
plain `executemany` (the search indexes follow through their triggers or generated column).
SQLite lives under var/bench/; PostgreSQL in its own database (comptoir_inbox_bench).

Then it starts the real server (`comptoir serve`: uvicorn, ASGI, as `make demo` runs it) in a
subprocess, logs in as an agent whose team owns most channels, and runs N concurrent clients
(threads with httpx) that each fetch, in turn: the inbox page (the default view), a search for
a common word, a rare word and an order number, and a conversation page. p50/p95 per kind.
Target (2-core machine): p95 <= 150 ms for each kind on SQLite.

Worker model: `comptoir serve --workers 2`, uvicorn processes. Django runs its sync views under
ASGI on one thread per process (asgiref's thread-sensitive executor), so a process uses at most
one core: two processes fill two cores, more only add switches and memory. (uvicorn's ASGI
path costs about 2 ms of CPU per request over the view itself; its WSGI mode measured the
same.) SQLite in WAL mode lets both processes read at once. The server's CPU time per request
is printed too: unlike latencies, it does not depend on what else the machine runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "var" / "bench"
PG_DEFAULT = "postgres://postgres@127.0.0.1:5432/comptoir_inbox_bench"
TARGET_P95_MS = 150.0

CONVERSATIONS = 100_000
MESSAGES = 500_000
PASSWORD = "bench-password"
AGENT = "bench-agent"
COMMON_WORD = "commande"
# Invented words, each in a handful of messages: what "rare" means in an inbox.
RARE_WORDS = [f"zorglub{i:03d}" for i in range(200)]


# -- building the database ---------------------------------------------------------------------


def build(conversations: int, messages: int, seed: int = 7) -> dict[str, Any]:
    """Runs inside a child process whose DATABASE_URL is the bench database (migrated)."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.db.models import Model
    from django.utils import timezone

    from comptoir.accounts.models import Role, Team, User
    from comptoir.demo import phrases
    from comptoir.inbox.models import (
        Channel,
        Conversation,
        Customer,
        CustomerIdentity,
        Event,
        Message,
        Shop,
        Tag,
    )
    from comptoir.orders.models import Order

    rng = random.Random(seed)
    now = timezone.now()
    ops = connection.ops

    def dt(value: datetime | None) -> Any:
        return None if value is None else ops.adapt_datetimefield_value(value)

    def writer(model: type[Model], with_pk: bool = True) -> Any:
        # Without ids (with_pk=False) the database numbers the rows.
        fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
        names = [f.attname for f in fields]
        defaults = {}
        for f in fields:
            value = f.get_default() if f.has_default() else None
            if isinstance(value, datetime):
                value = dt(value)
            elif value is not None:
                value = f.get_db_prep_save(value, connection)
            defaults[f.attname] = value
        cols = ", ".join(ops.quote_name(f.column) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {ops.quote_name(model._meta.db_table)} ({cols}) VALUES ({marks})"

        def write(rows: list[dict[str, Any]]) -> None:
            with connection.cursor() as cursor:
                cursor.executemany(sql, [[r.get(n, defaults[n]) for n in names] for r in rows])

        return write

    t0 = time.perf_counter()
    team = Team.objects.create(name="Marketplaces")
    other = Team.objects.create(name="Own shop")
    agent = User.objects.create(
        username=AGENT, password=make_password(PASSWORD), role=Role.AGENT, first_name="Bench"
    )
    team.members.add(agent)
    User.objects.create(
        username="bench-supervisor", password=make_password(PASSWORD), role=Role.SUPERVISOR
    )
    shops = [
        Shop.objects.create(name="Maison Lumière", slug="maison-lumiere"),
        Shop.objects.create(name="TechnoPlus", slug="technoplus"),
    ]
    specs = [
        ("amazon", "amazon", "Amazon FR", team),
        ("mirakl", "darty", "Darty", team),
        ("cdiscount", "cdiscount", "Cdiscount", team),
        ("fnac", "fnac", "Fnac", team),
        ("ebay", "ebay", "eBay", team),
        ("email", "shop", "Shop mailbox", other),
    ]
    channels = [
        Channel.objects.create(
            shop=shops[i % 2],
            kind=kind,
            marketplace=mkt,
            name=f"{name} {shops[i % 2].name}",
            team=owner,
        )
        for i, (kind, mkt, name, owner) in enumerate(specs)
    ]
    tags = [Tag.objects.create(name=name) for name in ("urgent", "retour", "facture", "vip")]
    agents = [agent, *User.objects.filter(username="bench-supervisor")]

    lang_weights = [("fr", 70), ("en", 10), ("de", 8), ("es", 6), ("it", 6)]
    langs = [lang for lang, w in lang_weights for _ in range(w)]
    intents = [i for i, w in phrases.INTENT_WEIGHTS.items() for _ in range(w)]
    catalogue = [item for items in phrases.CATALOGUE.values() for item in items]

    def fill(template: str, values: dict[str, str]) -> str:
        return template.format_map(defaultdict(str, values))

    def pick(table: dict[str, dict[str, tuple[str, ...]]], intent: str, lang: str) -> str:
        options = table.get(intent, {}).get(lang) or table.get(intent, {}).get("fr") or ("",)
        return rng.choice(options)

    customers: list[dict[str, Any]] = []
    identities: list[dict[str, Any]] = []
    convs: list[dict[str, Any]] = []
    msgs: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    conv_tags: list[tuple[int, int]] = []
    order_numbers: list[str] = []
    rare_left = {w: 5 for w in RARE_WORDS}

    n_customers = int(conversations * 0.7)
    for cid in range(1, n_customers + 1):
        lang = rng.choice(langs)
        first = rng.choice(phrases.FIRST_NAMES[lang])
        last = rng.choice(phrases.LAST_NAMES[lang])
        provider = rng.choice(phrases.EMAIL_PROVIDERS[lang])
        email = f"{first}.{last}{cid}@{provider}.example".lower().replace(" ", "")
        created = now - timedelta(days=400)
        customers.append(
            {
                "id": cid,
                "name": f"{first} {last}",
                "email": email,
                "language": lang,
                "created_at": dt(created),
            }
        )
        identities.append(
            {
                "id": len(identities) + 1,
                "customer_id": cid,
                "kind": "email",
                "value": email,
                "created_at": dt(created),
            }
        )
        if rng.random() < 0.4:
            alias = f"{rng.getrandbits(40):010x}@marketplace.amazon.fr"
            identities.append(
                {
                    "id": len(identities) + 1,
                    "customer_id": cid,
                    "kind": "amazon_alias",
                    "value": alias,
                    "created_at": dt(created),
                }
            )

    per_conv = [1] * conversations
    for _ in range(messages - conversations):
        per_conv[rng.randrange(conversations)] += 1
    span = timedelta(days=365).total_seconds()
    starts = sorted(rng.random() * span for _ in range(conversations))
    mid = 0
    for i in range(conversations):
        conv_id = i + 1
        channel = channels[rng.choices(range(len(channels)), weights=[30, 15, 15, 10, 10, 20])[0]]
        customer = customers[rng.randrange(n_customers)]
        lang = customer["language"]
        intent = rng.choice(intents)
        product = rng.choice(catalogue)[1]
        if channel.marketplace == "amazon":
            number = f"{rng.randrange(400, 410)}-{rng.randrange(10**7):07d}-{conv_id:07d}"
        else:  # (unique per channel, as the marketplaces make them)
            number = f"{channel.marketplace.upper()[:3]}{conv_id:06d}{rng.randrange(100):02d}"
        order_numbers.append(number)
        values = {
            "order": number,
            "product": product,
            "customer": customer["name"],
            "first": customer["name"].split()[0],
            "carrier": "Colissimo",
            "tracking": f"6A{rng.randrange(10**11):011d}",
            "shop": "Maison Lumière",
            "agent": "Bench",
            "total": "59,90 €",
        }
        subject = fill(pick(phrases.SUBJECTS, intent, lang), values)
        start = now - timedelta(seconds=span - starts[i])
        at = start
        last_in = last_out = first_out = None
        count = per_conv[i]
        for k in range(count):
            mid += 1
            inbound = k % 2 == 0
            if inbound:
                text = fill(
                    pick(
                        phrases.OPENINGS if k == 0 else phrases.FOLLOW_UPS,
                        intent if k == 0 else rng.choice(sorted(phrases.FOLLOW_UPS)),
                        lang,
                    ),
                    values,
                )
                if k == 0 and lang == "fr" and COMMON_WORD not in text:
                    text += f" Ma {COMMON_WORD} {number}."
            else:
                text = fill(pick(phrases.REPLIES, intent, lang), values)
            if rng.random() < 0.002:
                word = rng.choice([w for w, left in rare_left.items() if left > 0] or ["x"])
                if word in rare_left:
                    rare_left[word] -= 1
                    text += f" {word}"
            msgs.append(
                {
                    "id": mid,
                    "conversation_id": conv_id,
                    "channel_id": channel.pk,
                    "direction": "in" if inbound else "out",
                    "author_name": customer["name"] if inbound else "Bench",
                    "external_id": f"b-{mid}",
                    "subject": subject if k == 0 else f"Re: {subject}",
                    "text": text,
                    "sent_at": dt(at),
                    "received_at": dt(at),
                    "created_at": dt(at),
                    "delivery_state": "" if inbound else "sent",
                }
            )
            if inbound:
                last_in = at
            else:
                last_out = at
                first_out = first_out or at
            at += timedelta(minutes=rng.randrange(20, 3000))
        last_at = at - timedelta(minutes=1)
        needs_reply = last_in is not None and (last_out is None or last_in > last_out)
        age = now - last_at
        status = (
            "resolved"
            if age > timedelta(days=14) and not needs_reply
            else (rng.choice(["open", "open", "pending", "snoozed"]) if not needs_reply else "open")
        )
        if needs_reply and age > timedelta(days=20):  # old threads were answered eventually
            needs_reply, status = False, "resolved"
        respond_by = (last_in + timedelta(hours=24)) if needs_reply and last_in else None
        order_id = None
        if rng.random() < 0.6:
            order_id = len(orders) + 1
            orders.append(
                {
                    "id": order_id,
                    "shop_id": channel.shop_id,
                    "channel_id": channel.pk,
                    "customer_id": customer["id"],
                    "external_id": number,
                    "status": "shipped",
                    "total": "59.90",
                    "items": json.dumps(
                        [{"sku": "X", "title": product, "quantity": 1, "unit_price": "59.90"}]
                    ),
                    "ordered_at": dt(start),
                    "created_at": dt(start),
                }
            )
        convs.append(
            {
                "id": conv_id,
                "shop_id": channel.shop_id,
                "channel_id": channel.pk,
                "customer_id": customer["id"],
                "order_id": order_id,
                "order_number": number,
                "external_thread_id": f"bt-{conv_id}",
                "subject": subject,
                "snippet": msgs[-1]["text"][:160],
                "status": status,
                "assignee_id": rng.choice(agents).pk if rng.random() < 0.5 else None,
                "team_id": channel.team_id,
                "language": lang,
                "intent": intent,
                "needs_reply": needs_reply,
                "respond_by": dt(respond_by),
                "snoozed_until": dt(now + timedelta(days=2)) if status == "snoozed" else None,
                "first_inbound_at": dt(start),
                "first_response_at": dt(first_out),
                "last_inbound_at": dt(last_in),
                "last_outbound_at": dt(last_out),
                "last_message_at": dt(last_at),
                "resolved_at": dt(last_at) if status == "resolved" else None,
                "message_count": count,
                "created_at": dt(start),
                "updated_at": dt(last_at),
            }
        )
        events.append(
            {
                "conversation_id": conv_id,
                "kind": "created",
                "actor_label": "connector:bench",
                "data": "{}",
                "created_at": dt(start),
            }
        )
        if rng.random() < 0.3:
            conv_tags.append((conv_id, rng.choice(tags).pk))
    generated = time.perf_counter() - t0

    through = Conversation.tags.through
    with transaction.atomic():
        writer(Customer)(customers)
        writer(CustomerIdentity)(identities)
        writer(Order)(orders)
        for start_at in range(0, len(convs), 20_000):
            writer(Conversation)(convs[start_at : start_at + 20_000])
        for start_at in range(0, len(msgs), 20_000):
            writer(Message)(msgs[start_at : start_at + 20_000])
        writer(Event, with_pk=False)(events)
        writer(through, with_pk=False)([{"conversation_id": c, "tag_id": t} for c, t in conv_tags])
        _reset_sequences(connection, [Customer, CustomerIdentity, Order, Conversation, Message])
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("INSERT INTO search_message(search_message) VALUES ('optimize')")
            cursor.execute("ANALYZE")
        else:
            cursor.execute("VACUUM ANALYZE")
    return {
        "generated_s": round(generated, 1),
        "written_s": round(time.perf_counter() - t0 - generated, 1),
        "conversations": len(convs),
        "messages": len(msgs),
    }


def _reset_sequences(connection: Any, models: list[Any]) -> None:
    if connection.vendor != "postgresql":
        return
    from django.core.management.color import no_style

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)


def sample(n: int = 1000, seed: int = 3) -> dict[str, Any]:
    """What the clients ask for: conversations the agent sees, their order numbers."""
    from comptoir.accounts.models import User
    from comptoir.inbox.permissions import visible_conversations

    agent = User.objects.get(username=AGENT)
    rows = list(visible_conversations(agent).values_list("pk", "order_number").order_by("?")[:n])
    rng = random.Random(seed)
    rng.shuffle(rows)
    return {"conversations": [pk for pk, _ in rows], "orders": [o for _, o in rows if o]}


def child(action: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    django.setup()
    from django.core.management import call_command

    from comptoir.inbox.models import Conversation

    if action == "build":
        call_command("migrate", verbosity=0)
        if Conversation.objects.exists():
            print(json.dumps({"reused": True}))
            return
        print(json.dumps(build(CONVERSATIONS, MESSAGES)))
    else:
        print(json.dumps(sample()))


def run_child(action: str, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", action],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{action} failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# -- the clients -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited at start")
        try:
            httpx.get(f"{base}/login/", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def login(base: str) -> Any:
    import httpx

    client = httpx.Client(base_url=base, timeout=30)
    page = client.get("/login/").text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    response = client.post(
        "/login/",
        data={"username": AGENT, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/login/"},
    )
    assert response.status_code in (302, 303), response.status_code
    return client


def server_cpu_seconds(pgid: int) -> float:
    """CPU time used so far by the server's processes (its session: master and workers).
    Unlike latency, it does not depend on what else the machine is running."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == pgid:  # session id (field 6)
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def load(
    base: str, cookies: Any, picks: dict[str, Any], clients: int, seconds: float, warmup: float
) -> dict[str, list[float]]:
    import httpx

    timings: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()
    stop_at = time.monotonic() + warmup + seconds
    record_from = time.monotonic() + warmup
    errors: list[str] = []
    done = [0]

    def one(n: int) -> None:
        rng = random.Random(n)
        kinds = [
            ("inbox", lambda: "/inbox/"),
            ("search common word", lambda: f"/inbox/?view=all&q={COMMON_WORD}"),
            ("search rare word", lambda: f"/inbox/?view=all&q={rng.choice(RARE_WORDS)}"),
            ("search order number", lambda: f"/inbox/?view=all&q={rng.choice(picks['orders'])}"),
            ("conversation", lambda: f"/inbox/c/{rng.choice(picks['conversations'])}/"),
        ]
        with httpx.Client(base_url=base, cookies=cookies, timeout=60) as client:
            i = n
            while time.monotonic() < stop_at:
                kind, url = kinds[i % len(kinds)]
                i += 1
                t = time.perf_counter()
                response = client.get(url())
                took = (time.perf_counter() - t) * 1000
                with lock:
                    done[0] += 1
                if response.status_code != 200:
                    errors.append(f"{kind}: {response.status_code}")
                    continue
                if time.monotonic() >= record_from:
                    with lock:
                        timings[kind].append(took)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print(f"{len(errors)} errors, first: {errors[:3]}")
    timings["_requests"] = [float(done[0])]
    return timings


def bench(label: str, env: dict[str, str], args: argparse.Namespace) -> list[tuple[Any, ...]]:
    print(f"== {label}: building or reusing the database ...", flush=True)
    info = run_child("build", env)
    print(f"   {info}", flush=True)
    picks = run_child("sample", env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(DATA_DIR / f"server-{label}.log", "wb")  # noqa: SIM115  (closed below)
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "comptoir"),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env={**env, "COMPTOIR_LOG_LEVEL": "WARNING"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_up(base, server)
        client = login(base)
        cpu_before = server_cpu_seconds(server.pid)
        timings = load(base, client.cookies, picks, args.clients, args.seconds, args.warmup)
        cpu = server_cpu_seconds(server.pid) - cpu_before
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    requests = int(timings.pop("_requests")[0])
    print(
        f"   server CPU: {cpu * 1000 / max(requests, 1):.1f} ms per request on average "
        f"({requests} requests, {cpu:.1f} CPU s); load average now {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows = []
    for kind, values in timings.items():
        values.sort()
        p50 = statistics.median(values)
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        rows.append((label, kind, len(values), p50, p95))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=["build", "sample"], help=argparse.SUPPRESS)
    parser.add_argument("--rebuild", action="store_true", help="drop the bench databases first")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=PG_DEFAULT,
        default=None,
        help=f"also run on PostgreSQL (default URL {PG_DEFAULT})",
    )
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds (30)")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2, help="server processes (2: one per core)")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    base_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COMPTOIR_TASKS_BACKEND": "db"}
    rows: list[tuple[Any, ...]] = []
    if not args.no_sqlite:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        if args.rebuild:
            for path in DATA_DIR.glob("comptoir.sqlite3*"):
                path.unlink()
        env = {**base_env, "COMPTOIR_DATA_DIR": str(DATA_DIR), "DATABASE_URL": ""}
        rows += bench("sqlite", env, args)
    if args.postgres:
        if args.rebuild:
            _drop_postgres(args.postgres)
        _create_postgres(args.postgres)
        env = {**base_env, "COMPTOIR_DATA_DIR": str(DATA_DIR / "pg"), "DATABASE_URL": args.postgres}
        rows += bench("postgresql", env, args)

    print(
        f"\ninbox over HTTP: {CONVERSATIONS:,} conversations, {MESSAGES:,} messages, "
        f"{args.clients} clients, {args.workers} server processes, {os.cpu_count()} cores"
    )
    print(f"{'database':<12}{'page':<22}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}")
    missed = []
    for label, kind, n, p50, p95 in rows:
        print(f"{label:<12}{kind:<22}{n:>9}{p50:>9.1f}{p95:>9.1f}")
        if label == "sqlite" and p95 > TARGET_P95_MS:
            missed.append(kind)
    print(
        f"target: p95 <= {TARGET_P95_MS:.0f} ms on SQLite; "
        + ("all met" if not missed else f"missed: {', '.join(missed)}")
    )


def _admin(url: str) -> tuple[str, str]:
    return url.rsplit("/", 1)[0] + "/postgres", url.rsplit("/", 1)[1]


def _drop_postgres(url: str) -> None:
    import psycopg

    admin, name = _admin(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _create_postgres(url: str) -> None:
    import psycopg

    admin, name = _admin(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    main()
