"""The inbox's history at scale, shared by `bench/scale.py` and `bench/inbox_http.py`: N
conversations with about 5 N messages (buyers, identities, orders, tags, text in five languages
from the demo's phrase tables), streamed in batches: COPY on PostgreSQL, `executemany` on
SQLite, with the indexes, the search triggers and the foreign-key checks off meanwhile and
the indexes built once at the end (`harness.bulk_load`)."""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

PASSWORD = "bench-password"
AGENT = "bench-agent"
COMMON_WORD = "commande"
# Invented words, each in a handful of messages: what "rare" means in an inbox.
RARE_WORDS = [f"zorglub{i:03d}" for i in range(200)]
BATCH = 20_000  # conversations per written batch


class Writer:
    """Rows of a model (dicts of attnames; the others take their defaults) straight to the
    database: COPY on PostgreSQL, `executemany` on the raw SQLite connection."""

    def __init__(self, model: Any, with_pk: bool = True) -> None:
        from django.db import connection

        self.connection = connection
        self.fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
        self.names = [f.attname for f in self.fields]
        self.defaults = {f.attname: self._default(f) for f in self.fields}
        self.table = model._meta.db_table
        self.columns = ", ".join(f'"{f.column}"' for f in self.fields)

    def _default(self, field: Any) -> Any:
        value = field.get_default() if field.has_default() else None
        if field.get_internal_type() == "JSONField":
            return json.dumps(value)
        if isinstance(value, datetime):
            return dt(value)
        return None if value is None else field.get_db_prep_save(value, self.connection)

    def write(self, rows: list[dict[str, Any]]) -> None:
        names, defaults = self.names, [self.defaults[n] for n in self.names]
        values = [list(map(r.get, names, defaults)) for r in rows]
        raw = self.connection.connection
        if self.connection.vendor == "postgresql":
            sql = f"COPY {self.table} ({self.columns}) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(sql) as copy:
                for row in values:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(self.names))
            raw.executemany(f'INSERT INTO "{self.table}" ({self.columns}) VALUES ({marks})', values)


_SQLITE: list[bool] = []


def dt(value: datetime | None) -> Any:
    """As `connection.ops.adapt_datetimefield_value` writes it (PostgreSQL: the aware datetime;
    SQLite: its UTC text), a tenth of the cost: it runs six times per message."""
    if not _SQLITE:
        from django.db import connection

        _SQLITE.append(connection.vendor == "sqlite")
    if value is None or not _SQLITE[0]:
        return value
    return str(value.astimezone(UTC).replace(tzinfo=None))


def setup_people() -> dict[str, Any]:
    """The agent (whose team owns five channels of six), a supervisor, two shops, tags."""
    from django.contrib.auth.hashers import make_password

    from comptoir.accounts.models import Role, Team, User
    from comptoir.inbox.models import Channel, Shop, Tag

    team = Team.objects.create(name="Marketplaces")
    other = Team.objects.create(name="Own shop")
    agent = User.objects.create(
        username=AGENT, password=make_password(PASSWORD), role=Role.AGENT, first_name="Bench"
    )
    team.members.add(agent)
    boss = User.objects.create(
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
            shop=shops[i % 2], kind=kind, marketplace=mkt, name=f"{name} {i}", team=owner
        )
        for i, (kind, mkt, name, owner) in enumerate(specs)
    ]
    tags = [Tag.objects.create(name=name).pk for name in ("urgent", "retour", "facture", "vip")]
    return {"channels": channels, "tags": tags, "agents": [agent.pk, boss.pk]}


def fill_customers(rng: random.Random, n: int, now: datetime) -> list[tuple[str, str]]:
    """n customers with an email identity (and an Amazon alias for 40 %): (name, language)."""
    from comptoir.demo import phrases
    from comptoir.inbox.models import Customer, CustomerIdentity

    langs = ["fr"] * 70 + ["en"] * 10 + ["de"] * 8 + ["es"] * 6 + ["it"] * 6
    customers, identities, out = Writer(Customer), Writer(CustomerIdentity), []
    created = dt(now - timedelta(days=400))
    ident = 0
    for start in range(1, n + 1, BATCH):
        crows, irows = [], []
        for cid in range(start, min(n, start + BATCH - 1) + 1):
            lang = rng.choice(langs)
            name = f"{rng.choice(phrases.FIRST_NAMES[lang])} {rng.choice(phrases.LAST_NAMES[lang])}"
            provider = rng.choice(phrases.EMAIL_PROVIDERS[lang])
            email = f"{name.replace(' ', '.')}{cid}@{provider}.example".lower()
            out.append((name, lang))
            crows.append(
                {"id": cid, "name": name, "email": email, "language": lang, "created_at": created}
            )
            ident += 1
            irows.append({"id": ident, "customer_id": cid, "kind": "email", "value": email})
            if rng.random() < 0.4:
                ident += 1
                alias = f"{rng.getrandbits(40):010x}@marketplace.amazon.fr"
                irows.append({"id": ident, "customer_id": cid, "kind": "amazon_alias"})
                irows[-1]["value"] = alias
        for row in irows:
            row["created_at"] = created
        customers.write(crows)
        identities.write(irows)
    return out


class Texts:
    """The messages' words, from the demo's phrase tables."""

    def __init__(self, rng: random.Random) -> None:
        from comptoir.demo import phrases

        self.rng = rng
        self.p = phrases
        self.intents = [i for i, w in phrases.INTENT_WEIGHTS.items() for _ in range(w)]
        self.products = [item[1] for items in phrases.CATALOGUE.values() for item in items]
        self.rare_left = dict.fromkeys(RARE_WORDS, 5)

    def pick(self, table: dict[str, dict[str, tuple[str, ...]]], intent: str, lang: str) -> str:
        options = table.get(intent, {}).get(lang) or table.get(intent, {}).get("fr") or ("",)
        return self.rng.choice(options)

    def fill(self, template: str, values: dict[str, str]) -> str:
        return template.format_map(defaultdict(str, values))

    def message(self, k: int, intent: str, lang: str, values: dict[str, str]) -> str:
        if k % 2:
            return self.fill(self.pick(self.p.REPLIES, intent, lang), values)
        table = self.p.OPENINGS if k == 0 else self.p.FOLLOW_UPS
        kind = intent if k == 0 else self.rng.choice(sorted(self.p.FOLLOW_UPS))
        text = self.fill(self.pick(table, kind, lang), values)
        if k == 0 and lang == "fr" and COMMON_WORD not in text:
            text += f" Ma {COMMON_WORD} {values['order']}."
        if self.rng.random() < 0.002:
            left = [w for w, n in self.rare_left.items() if n > 0]
            if left:
                word = self.rng.choice(left)
                self.rare_left[word] -= 1
                text += f" {word}"
        return text


def conversation_rows(
    rng: random.Random, texts: Texts, i: int, ctx: dict[str, Any], out: dict[str, list[Any]]
) -> None:
    """Conversation i (its messages, order, event, tag) appended to `out`'s lists."""
    channel = ctx["channels"][rng.choices(range(6), weights=[30, 15, 15, 10, 10, 20])[0]]
    cid = rng.randrange(len(ctx["customers"])) + 1
    name, lang = ctx["customers"][cid - 1]
    intent = rng.choice(texts.intents)
    if channel.marketplace == "amazon":
        number = f"{rng.randrange(400, 410)}-{rng.randrange(10**7):07d}-{i:07d}"
    else:
        number = f"{channel.marketplace.upper()[:3]}{i:07d}{rng.randrange(100):02d}"
    product = rng.choice(texts.products)
    values = {"order": number, "product": product, "customer": name, "first": name.split()[0]}
    values |= {"carrier": "Colissimo", "shop": "Maison Lumière", "agent": "Bench"}
    values |= {"tracking": f"6A{rng.randrange(10**11):011d}", "total": "59,90 €"}
    subject = texts.fill(texts.pick(texts.p.SUBJECTS, intent, lang), values)
    start = ctx["now"] - timedelta(seconds=rng.random() * 365 * 86400)
    at, last_in, last_out, first_out = start, None, None, None
    count = rng.choice((1, 2, 3, 4, 5, 6, 7, 8, 9))
    for k in range(count):
        ctx["mid"] += 1
        inbound = k % 2 == 0
        text = texts.message(k, intent, lang, values)
        when = dt(at)
        out["msgs"].append(
            {
                "id": ctx["mid"],
                "conversation_id": i,
                "channel_id": channel.pk,
                "direction": "in" if inbound else "out",
                "author_name": name if inbound else "Bench",
                "external_id": f"b-{ctx['mid']}",
                "subject": subject if k == 0 else f"Re: {subject}",
                "text": text,
                "sent_at": when,
                "received_at": when,
                "created_at": when,
                "delivery_state": "" if inbound else "sent",
            }
        )
        if inbound:
            last_in = at
        else:
            last_out, first_out = at, first_out or at
        at += timedelta(minutes=rng.randrange(20, 3000))
    last_at = min(at - timedelta(minutes=1), ctx["now"])
    _conversation(rng, i, ctx, out, channel, cid, number, subject, intent, lang)
    conv = out["convs"][-1]
    needs_reply = last_in is not None and (last_out is None or last_in > last_out)
    age = ctx["now"] - last_at
    status = rng.choice(["open", "open", "pending", "snoozed"]) if not needs_reply else "open"
    if age > timedelta(days=14) and not needs_reply:
        status = "resolved"
    if needs_reply and age > timedelta(days=20):  # old threads were answered eventually
        needs_reply, status = False, "resolved"
    conv |= {
        "snippet": out["msgs"][-1]["text"][:160],
        "status": status,
        "needs_reply": needs_reply,
        "respond_by": dt(last_in + timedelta(hours=24)) if needs_reply and last_in else None,
        "snoozed_until": dt(ctx["now"] + timedelta(days=2)) if status == "snoozed" else None,
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
    out["events"].append(
        {"conversation_id": i, "kind": "created", "actor_label": "connector:bench"}
        | {"data": "{}", "created_at": dt(start)}
    )


def _conversation(
    rng: random.Random,
    i: int,
    ctx: dict[str, Any],
    out: dict[str, list[Any]],
    channel: Any,
    cid: int,
    number: str,
    subject: str,
    intent: str,
    lang: str,
) -> None:
    order_id = None
    if rng.random() < 0.6:
        ctx["oid"] += 1
        order_id = ctx["oid"]
        items = [{"sku": "X", "title": subject[:40], "quantity": 1, "unit_price": "59.90"}]
        out["orders"].append(
            {"id": order_id, "shop_id": channel.shop_id, "channel_id": channel.pk}
            | {"customer_id": cid, "external_id": number, "status": "shipped", "total": "59.90"}
            | {
                "items": json.dumps(items),
                "ordered_at": dt(ctx["now"]),
                "created_at": dt(ctx["now"]),
            }
        )
    out["convs"].append(
        {"id": i, "shop_id": channel.shop_id, "channel_id": channel.pk, "customer_id": cid}
        | {"order_id": order_id, "order_number": number, "external_thread_id": f"bt-{i}"}
        | {"subject": subject, "team_id": channel.team_id, "language": lang, "intent": intent}
        | {"assignee_id": rng.choice(ctx["agents"]) if rng.random() < 0.5 else None}
    )
    if rng.random() < 0.3:
        out["tags"].append({"conversation_id": i, "tag_id": rng.choice(ctx["tags"])})


def fill(n: int, seed: int = 7) -> dict[str, Any]:
    """In a child whose database is migrated and empty: the whole history, in batches."""
    from django.db import connection, transaction
    from django.utils import timezone

    from comptoir.inbox.models import Conversation, Customer, CustomerIdentity, Event, Message
    from comptoir.orders.models import Order

    from .bulk_load import bulk_load

    t0 = time.perf_counter()
    rng = random.Random(seed)
    now = timezone.now()
    ctx = setup_people() | {"now": now, "mid": 0, "oid": 0}
    writers = {
        "orders": Writer(Order),
        "convs": Writer(Conversation),
        "msgs": Writer(Message),
        "events": Writer(Event, with_pk=False),
        "tags": Writer(Conversation.tags.through, with_pk=False),
    }
    tables = [Customer._meta.db_table, CustomerIdentity._meta.db_table]
    tables += [writer.table for writer in writers.values()]
    with bulk_load(connection, tables):
        with transaction.atomic():
            ctx["customers"] = fill_customers(rng, int(n * 0.7), now)
        texts = Texts(rng)
        for start in range(1, n + 1, BATCH):
            out: dict[str, list[Any]] = {key: [] for key in writers}
            for i in range(start, min(n, start + BATCH - 1) + 1):
                conversation_rows(rng, texts, i, ctx, out)
            with transaction.atomic():
                for key, writer in writers.items():
                    writer.write(out[key])
        loaded = time.perf_counter() - t0
    finished(connection)
    return {
        "fill_s": round(time.perf_counter() - t0),
        "rows_s": round(loaded),
        "conversations": n,
        "messages": ctx["mid"],
    }


def finished(connection: Any) -> None:
    """Sequences past the written ids, indexes optimised, statistics gathered."""
    from django.core.management.color import no_style

    from comptoir.accounts.models import User
    from comptoir.inbox.models import Conversation, Customer, CustomerIdentity, Message
    from comptoir.orders.models import Order

    models = [Customer, CustomerIdentity, Order, Conversation, Message, User]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for sql in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(sql)
            cursor.execute("VACUUM ANALYZE")
        else:  # (the search tables were optimised as they were built)
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute("ANALYZE")
