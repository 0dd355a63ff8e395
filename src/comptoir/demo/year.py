"""The demo's year: the months before the live weeks, resolved, written straight as rows.

The live weeks go through ingest and the actions (`generate.load`); a year that way would take
minutes. The older history is planned by the same planner (`planner.build_history`: the same
buyers' words, orders and agents, every conversation resolved) and written in bulk as the
pipeline would have left it: customers, conversations, messages, events and tags, every
timestamp in the past. The analytics facts and the surveys come afterwards, for the whole
history at once (`generate.load`).

Its shape is a seller's year: Black Friday and the weeks before Christmas at two to three times
the usual volume (and slower answers, hence more missed deadlines), January's returns, a summer
dip, Mondays busy with the weekend's mail, quiet Saturdays. Orders that never led to a message
(most of them) are written too, a few conversations per hundred orders as sellers see it.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Model

from comptoir.accounts.models import User
from comptoir.demo.plan import AgentStep, BuyerMessage, ConversationPlan, Ids
from comptoir.demo.planner import HistoryDay, build_history
from comptoir.demo.world import CHANNELS, EVENT_OFFSETS
from comptoir.inbox import fastsql
from comptoir.inbox.models import (
    Channel,
    Conversation,
    Customer,
    CustomerIdentity,
    DeliveryState,
    Direction,
    Event,
    EventKind,
    Message,
    Status,
    Tag,
    TriageSource,
)
from comptoir.lib.text import snippet
from comptoir.orders.models import Order, OrderStatus
from comptoir.sla.policies import policies_for

# Conversations a day at scale 1 on an ordinary weekday, all channels together.
BASE_PER_DAY = 20.0
# Monday first: Monday brings the weekend's mail, Saturday is quiet.
WEEKDAY = (1.35, 1.15, 1.05, 1.0, 0.95, 0.7, 0.8)
# Conversations per 100 orders, by channel: marketplaces whose buyers write more, or less.
CONTACT_RATE = {
    "amazon": 4.5,
    "cdiscount": 8.0,
    "shop": 6.0,
    "fnac": 7.0,
    "darty": 9.0,
    "ebay": 5.5,
    "rakuten": 10.0,
    "spartoo": 7.0,
}
# The planner's story intents as triage names them (what the live weeks' reading finds).
TRIAGE_INTENT = {
    "where_is_order": "order_tracking",
    "not_received": "not_received",
    "damaged": "damaged_or_defective",
    "wrong_item": "wrong_or_missing_item",
    "return": "return_request",
    "refund": "refund",
    "invoice": "invoice",
    "cancellation": "cancellation",
    "product_question": "product_question",
    "thanks": "thanks_or_closing",
}
# The newest day of the history lies this far back: its conversations are all resolved by now.
SETTLED = timedelta(days=3)


@dataclass(frozen=True)
class Season:
    volume: float  # against an ordinary day
    slowness: float  # how much longer the agents take to answer
    intents: dict[str, float]  # what buyers write about more


def black_friday(year: int) -> date:
    """The day after the fourth Thursday of November."""
    first = date(year, 11, 1)
    thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return thursday + timedelta(days=22)


def season(day: date) -> Season:
    bf = black_friday(day.year)
    if bf - timedelta(days=2) <= day <= bf + timedelta(days=3):  # to Cyber Monday
        return Season(2.7, 1.6, {"where_is_order": 1.4, "cancellation": 1.5})
    if bf + timedelta(days=3) < day <= date(day.year, 12, 24):
        return Season(1.9, 1.35, {"where_is_order": 1.8, "not_received": 1.6})
    if day.month == 12:
        return Season(1.3, 1.2, {"return": 2.0, "damaged": 1.4, "wrong_item": 1.4})
    if day.month == 1:  # the returns of Christmas presents, and the sales
        return Season(1.35, 1.1, {"return": 2.2, "refund": 1.6})
    if date(day.year, 7, 10) <= day <= date(day.year, 8, 25):  # the summer holidays
        return Season(0.65, 1.15, {})
    if day.month == 11:  # before Black Friday
        return Season(1.15, 1.0, {"product_question": 1.4})
    return Season(1.0, 1.0, {})


def expected_per_day(day: date, scale: float) -> dict[str, float]:
    """How many conversations open on `day` on each channel, on average."""
    total = sum(c.weight for c in CHANNELS)
    per_day = BASE_PER_DAY * scale * season(day).volume * WEEKDAY[day.weekday()]
    return {c.key: per_day * c.weight / total for c in CHANNELS}


@dataclass
class YearSummary:
    conversations: int
    messages: int
    orders: int  # the background orders (the conversations' own come with them)


def seed(
    *,
    seed: int,
    now: datetime,
    channels: dict[str, Channel],
    users: dict[str, User],
    live: Iterable[ConversationPlan] = (),
    days: int = 365,
    scale: float = 1.0,
) -> YearSummary:
    """Write the year before `now`: where the live plans already cover a day (the live weeks),
    only what the season adds on top of them."""
    rng = random.Random(seed * 7919 + 365)
    tz = ZoneInfo(settings.TIME_ZONE)
    today = now.astimezone(tz).date()
    live_counts: dict[tuple[date, str], int] = defaultdict(int)
    for p in live:
        live_counts[(p.exchanges[0][0].at.astimezone(tz).date(), p.channel.key)] += 1
    history_days = []
    expected_by_day = {}
    for back in range(days - 1, 0, -1):  # all of it within "the last `days` days"
        day = today - timedelta(days=back)
        expected = expected_per_day(day, scale)
        expected_by_day[day] = expected
        if today - day < timedelta(days=SETTLED.days):
            continue
        counts = {}
        for key, mean in expected.items():
            n = int(mean) + (rng.random() < mean - int(mean))
            counts[key] = max(0, n - live_counts.get((day, key), 0))
        s = season(day)
        history_days.append(HistoryDay(day, counts, s.slowness, s.intents))
    plans = build_history(seed=seed + 1, days=history_days, now=now, first_index=1_000_000)
    writer = _Writer(now, channels, users)
    with transaction.atomic():
        stored = writer.write([p for p in plans if _settled(p, now)])
        orders = _background_orders(rng, now, tz, expected_by_day, channels)
    return YearSummary(stored, writer.messages, orders)


def _settled(plan: ConversationPlan, now: datetime) -> bool:
    """Resolved before now (a story that would run into the future is left out)."""
    last = plan.exchanges[-1][1]
    return last is not None and last.status == Status.RESOLVED and last.at < now - SETTLED


class _Writer:
    """Rows for planned conversations, as ingest and the actions would have left them."""

    def __init__(self, now: datetime, channels: dict[str, Channel], users: dict[str, User]):
        self.now = now
        self.channels = channels
        self.users = users
        self.messages = 0
        self.tags = dict(Tag.objects.values_list("name", "pk"))
        self.policies = policies_for({c.pk for c in channels.values()})

    def write(self, plans: list[ConversationPlan]) -> int:
        plans = self._without_clashes(plans)
        customers = self._customers(plans)
        orders = self._orders(plans, customers)
        convs = [self._conversation(p, customers, orders) for p in plans]
        rows: list[tuple[Conversation, Model]] = []  # what points at a conversation
        for plan, conv in zip(plans, convs, strict=True):
            self._story(plan, conv, rows)
        fastsql.insert(convs)  # with the fields the story left them
        # (`updated_at` takes the clock on insert: it is when the conversation was resolved.)
        for part in range(0, len(convs), 5000):  # (SQLite caps the parameters of a query)
            ids = [c.pk for c in convs[part : part + 5000]]
            Conversation.objects.filter(pk__in=ids).update(updated_at=F("resolved_at"))
        for conv, row in rows:
            row.conversation_id = conv.pk  # type: ignore[attr-defined]
        by_model: dict[type[Model], list[Model]] = defaultdict(list)
        for _, row in rows:
            by_model[type(row)].append(row)
        for model, objs in by_model.items():
            for part in range(0, len(objs), 2000):
                fastsql.insert(
                    objs[part : part + 2000], returning=False, ignore_conflicts=model not in
                    (Message, Event),
                )  # fmt: skip
        self.messages = len(by_model[Message])
        return len(convs)

    def _without_clashes(self, plans: list[ConversationPlan]) -> list[ConversationPlan]:
        """Leave out the rare planned conversation whose ids the live weeks already use (two
        plans drawn from different seeds): ids are unique per channel."""
        taken = set(Message.objects.values_list("channel_id", "external_id"))
        taken |= set(Order.objects.values_list("channel_id", "external_id"))
        kept = []
        for p in plans:
            cid = self.channels[p.channel.key].pk
            keys = {(cid, m.external_id) for m, _ in p.exchanges}
            keys |= {(cid, s.delivery_id) for _, s in p.exchanges if s and s.delivery_id}
            if p.order:
                keys.add((cid, p.order.external_id))
            if not keys & taken:
                taken |= keys
                kept.append(p)
        return kept

    def _customers(self, plans: list[ConversationPlan]) -> dict[tuple[str, str], int]:
        known = {
            (kind, value): cid
            for kind, value, cid in CustomerIdentity.objects.values_list(
                "kind", "value", "customer_id"
            )
        }
        new: dict[tuple[str, str], tuple[Customer, int]] = {}
        for p in plans:
            b = p.buyer
            key = (b.identity_kind, b.identity_value.lower())
            if key in known or key in new:
                continue
            at = p.exchanges[0][0].at
            customer = Customer(name=b.name, email=b.email, language=p.language, created_at=at)
            new[key] = (customer, self.channels[p.channel.key].pk)
        fastsql.insert([c for c, _ in new.values()])
        fastsql.insert(
            [
                CustomerIdentity(
                    customer_id=c.pk,
                    kind=kind,
                    value=value,
                    channel_id=channel_id,
                    created_at=c.created_at,
                )
                for (kind, value), (c, channel_id) in new.items()
            ],
            returning=False,
        )
        known.update({key: c.pk for key, (c, _) in new.items()})
        return known

    def _orders(
        self, plans: list[ConversationPlan], customers: dict[tuple[str, str], int]
    ) -> dict[int, Order]:
        orders = {}
        for p in plans:
            o = p.order
            if o is None:
                continue
            channel = self.channels[p.channel.key]
            orders[p.index] = Order(
                shop_id=channel.shop_id, channel_id=channel.pk,
                customer_id=customers[(p.buyer.identity_kind, p.buyer.identity_value.lower())],
                external_id=o.external_id, status=o.status, total=o.total, items=o.items,
                ordered_at=o.ordered_at, ship_by=o.ship_by, shipped_at=o.shipped_at,
                expected_delivery_at=o.expected_delivery_at, delivered_at=o.delivered_at,
                carrier=o.carrier, tracking_number=o.tracking_number, tracking_url=o.tracking_url,
                synced_at=p.exchanges[0][0].at, created_at=o.ordered_at,
            )  # fmt: skip
        fastsql.insert(list(orders.values()))
        return orders

    def _conversation(
        self,
        p: ConversationPlan,
        customers: dict[tuple[str, str], int],
        orders: dict[int, Order],
    ) -> Conversation:
        channel = self.channels[p.channel.key]
        first = p.exchanges[0][0]
        order = orders.get(p.index)
        return Conversation(
            shop_id=channel.shop_id,
            channel_id=channel.pk,
            customer_id=customers[(p.buyer.identity_kind, p.buyer.identity_value.lower())],
            order_id=order.pk if order else None,
            order_number=p.order.external_id if p.order else "",
            external_thread_id=p.thread_id,
            subject=first.subject,
            language=p.language,
            language_by_triage=True,
            intent=TRIAGE_INTENT.get(p.intent, "other"),
            intent_source=TriageSource.TRIAGE,
            team_id=channel.team_id,
            status=Status.RESOLVED,
            created_at=first.at,
            updated_at=p.last_activity,
        )

    def _story(
        self,
        p: ConversationPlan,
        conv: Conversation,
        rows: list[tuple[Conversation, Model]],
    ) -> None:
        """The conversation's messages, events and tags, and its fields as they ended."""
        story = _Story(p, conv, rows, self.channels[p.channel.key].pk)
        resolved = False
        for k, (m, step) in enumerate(p.exchanges):
            story.buyer_message(m, first=k == 0)
            if k == 0:
                deadline = self.policies[story.channel_id].respond_by(m.at, first=True)
                answered = step.at if step and step.reply else None
                if (answered is None and not _no_answer_owed(p)) or (
                    answered is not None and answered > deadline
                ):
                    # What the SLA sweep wrote when the deadline went by.
                    story.event(EventKind.SLA_BREACHED, deadline, sla_state="breached")
            elif resolved:
                resolved = False
                conv.reopened_count += 1
                story.event(EventKind.REOPENED, m.at)
            if step is not None:
                last = k == len(p.exchanges) - 1
                resolved = self._step(story, m, step, thanked=last and _no_answer_owed(p))
        conv.snippet = snippet(story.last_text)

    def _step(self, story: _Story, m: BuyerMessage, step: AgentStep, *, thanked: bool) -> bool:
        """An agent's step: assigned, tagged, answered, resolved (returns whether resolved)."""
        conv, users = story.conv, self.users
        actor = users[step.actor]
        if step.assign_to:
            who = users[step.assign_to]
            conv.assignee_id = who.pk
            story.event(
                EventKind.ASSIGNED, step.at + EVENT_OFFSETS[EventKind.ASSIGNED],
                users[step.assign_by], assignee=who.pk, assignee_name=who.display_name,
                previous=None,
            )  # fmt: skip
        for name in step.tags:
            if name in self.tags:
                story.rows.append((conv, Conversation.tags.through(tag_id=self.tags[name])))
                at = step.at + EVENT_OFFSETS[EventKind.TAGGED]
                story.event(EventKind.TAGGED, at, actor, tag=name)
        if step.priority is not None:
            conv.priority = step.priority
        resolves = step.status == Status.RESOLVED
        change = {"previous": Status.OPEN, "status": Status.RESOLVED} if resolves else {}
        if step.reply:
            story.reply(m, step, actor)
            story.event(EventKind.REPLIED, step.at, actor, is_auto=False, **change)
        elif resolves:
            if thanked:  # "Thanks!": marked as needing no answer, then closed
                story.event(EventKind.NO_RESPONSE_NEEDED, step.at, actor, respond_by=None)
            at = step.at + EVENT_OFFSETS[EventKind.STATUS_CHANGED]
            story.event(EventKind.STATUS_CHANGED, at, actor, **change)
        if resolves:
            conv.resolved_at = step.at + EVENT_OFFSETS[EventKind.STATUS_CHANGED]
        return resolves


@dataclass
class _Story:
    """One conversation's rows as they are written, and its fields kept up to date."""

    plan: ConversationPlan
    conv: Conversation
    rows: list[tuple[Conversation, Model]]
    channel_id: int
    last_text: str = ""

    def event(self, kind: str, at: datetime, actor: User | None = None, **data: Any) -> None:
        label = "" if actor else "system"
        event = Event(kind=kind, actor=actor, actor_label=label, data=data, created_at=at)
        self.rows.append((self.conv, event))

    def buyer_message(self, m: BuyerMessage, *, first: bool) -> None:
        p, conv = self.plan, self.conv
        self.rows.append((conv,
            Message(
                channel_id=self.channel_id, direction=Direction.IN,
                author_name=p.buyer.name, external_id=m.external_id, message_id=m.message_id,
                in_reply_to=m.in_reply_to, references=" ".join(m.references),
                subject=m.subject, text=m.text, language=p.language,
                intent=TRIAGE_INTENT.get(p.intent, "other") if first else "",
                intent_source=TriageSource.TRIAGE if first else TriageSource.NONE,
                triaged_at=m.at, sent_at=m.at, received_at=m.at, created_at=m.at,
            )
        ))  # fmt: skip
        self.last_text = m.text
        conv.message_count += 1
        conv.first_inbound_at = conv.first_inbound_at or m.at
        conv.last_inbound_at = conv.last_message_at = m.at
        if first:
            self.event(EventKind.CREATED, m.at, via="demo")

    def reply(self, m: BuyerMessage, step: AgentStep, actor: User) -> None:
        conv = self.conv
        self.rows.append((conv,
            Message(
                channel_id=self.channel_id, direction=Direction.OUT,
                author_id=actor.pk, author_name=actor.display_name,
                external_id=step.delivery_id, subject=f"Re: {m.subject}",
                text=step.reply, delivery_state=DeliveryState.SENT,
                sent_at=step.at + EVENT_OFFSETS[EventKind.DELIVERED],
                received_at=step.at, created_at=step.at,
            )
        ))  # fmt: skip
        self.last_text = step.reply
        conv.message_count += 1
        conv.first_response_at = conv.first_response_at or step.at
        conv.last_outbound_at = conv.last_message_at = step.at


def _no_answer_owed(p: ConversationPlan) -> bool:
    """The buyer's last word was a thank-you the agent closed without writing back."""
    last = p.exchanges[-1][1]
    return last is not None and not last.reply


def _background_orders(
    rng: random.Random,
    now: datetime,
    tz: ZoneInfo,
    expected: dict[date, dict[str, float]],
    channels: dict[str, Channel],
) -> int:
    """The orders that never led to a message: as many as each channel's contact rate says
    for the conversations of each day, delivered without a word. Plain rows (there are a
    hundred thousand of them at scale 1), with ids of their own kind."""
    ids = Ids(rng, tz)
    ids.shop_orders = 500_000  # above the live and history shop orders
    ids.used = {
        ext for (ext,) in Order.objects.values_list("external_id")
    }  # no clash with the conversations' orders
    fields = [
        "shop_id", "channel_id", "external_id", "status", "currency", "total", "items",
        "ordered_at", "ship_by", "shipped_at", "expected_delivery_at", "delivered_at",
        "synced_at", "created_at", "carrier", "tracking_number", "tracking_url",
    ]  # fmt: skip
    ops = connection.ops
    table = ops.quote_name(Order._meta.db_table)
    columns = ", ".join(ops.quote_name(f) for f in fields)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    total_field = Order._meta.get_field("total")
    empty = json.dumps([])
    spec_by_key = {c.key: c for c in CHANNELS}
    rows = []
    for day, per_channel in expected.items():
        for key, conversations in per_channel.items():
            mean = conversations * 100 / CONTACT_RATE[key]
            count = int(mean) + (rng.random() < mean - int(mean))
            channel = channels[key]
            for _ in range(count):
                at = datetime.combine(day, datetime.min.time(), tz) + timedelta(
                    minutes=rng.randrange(24 * 60)
                )
                if at >= now:
                    continue
                at = at.astimezone(UTC)
                shipped = at + timedelta(hours=rng.randint(4, 40))
                delivered = shipped + timedelta(days=rng.randint(1, 4))
                done = delivered < now
                total = Decimal(rng.randrange(990, 25_000)) / 100
                values = [
                    channel.shop_id, channel.pk, ids.order_number(spec_by_key[key], at),
                    OrderStatus.DELIVERED if done else OrderStatus.SHIPPED, "EUR",
                    total_field.get_db_prep_save(total, connection), empty, at,
                    at + timedelta(days=2), shipped, delivered, delivered if done else None,
                    at, at, "", "", "",
                ]  # fmt: skip
                rows.append(
                    [ops.adapt_datetimefield_value(v) if isinstance(v, datetime) else v
                     for v in values]
                )  # fmt: skip
    with connection.cursor() as cursor:
        for part in range(0, len(rows), 5000):
            cursor.executemany(sql, rows[part : part + 5000])
    return len(rows)
