"""Build the demo: a seller with two shops, eight channels, a team of agents and months of history.

Everything is derived from `random.Random(seed)` and a reference "now" (today at midnight), so the
same seed on the same day gives the same data. The history goes through the real code: buyer
messages through `inbox.ingest.ingest_many` (bulk mode, which threads follow-ups), the agents'
work through `inbox.actions`. Only what the actions cannot express, the past, is written directly:
actions stamp the real time, and a demo needs replies sent last month.

Loading is done in rounds: round k ingests every conversation's k-th buyer message, then applies
the agents' k-th step, then moves that step's timestamps into the past. A follow-up is therefore
ingested after the reply it answers, and the pipeline computes `needs_reply`, reopening and
respond-by exactly as it would live.
"""

from __future__ import annotations

import math
import random
import string
import time
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.test.utils import override_settings
from django.utils import timezone

from comptoir.accounts.models import Role, Team, User
from comptoir.connectors.base import InboundAttachment, InboundMessage, Party
from comptoir.demo import attachments as demo_files
from comptoir.demo import phrases
from comptoir.demo import rules as demo_rules
from comptoir.demo.templates import load_templates
from comptoir.inbox import actions
from comptoir.inbox.ingest import Outcome, ingest_many
from comptoir.inbox.models import (
    Channel,
    Conversation,
    Customer,
    CustomerIdentity,
    Direction,
    Event,
    EventKind,
    Message,
    Priority,
    Shop,
    Status,
    Tag,
)
from comptoir.lib.text import chunks
from comptoir.orders.models import Order, OrderStatus

DEMO_PASSWORD = "comptoir-demo"
SOURCE = "demo"

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class DemoError(RuntimeError):
    """The demo could not be loaded as planned (a pipeline step did not do what it should)."""


# -- the world ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopSpec:
    slug: str
    name: str


@dataclass(frozen=True)
class ChannelSpec:
    key: str
    shop: str
    kind: str
    marketplace: str
    name: str
    team: str
    weight: int
    languages: tuple[tuple[str, int], ...]
    identity_kind: str

    @property
    def is_email(self) -> bool:
        return self.kind == "email"


@dataclass(frozen=True)
class UserSpec:
    username: str
    first_name: str
    last_name: str
    role: str
    teams: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    is_staff: bool = False
    is_superuser: bool = False


SHOPS = (ShopSpec("maison-lumiere", "Maison Lumière"), ShopSpec("technoplus", "TechnoPlus"))
TEAMS = ("Marketplaces", "Own shop")

_FR = (("fr", 1),)
AMAZON_API = "amazon-api"  # the SP-API channel: orders, no conversations of its own
CHANNELS = (
    ChannelSpec(
        "amazon", "maison-lumiere", "email", "amazon", "Amazon FR mailbox", "Marketplaces", 35,
        (("fr", 55), ("de", 15), ("es", 10), ("it", 10), ("en", 10)), "email",
    ),
    ChannelSpec(
        "cdiscount", "maison-lumiere", "cdiscount", "cdiscount", "Cdiscount", "Marketplaces", 15,
        _FR, "cdiscount_customer",
    ),
    ChannelSpec(
        "shop", "maison-lumiere", "email", "shop", "Maison Lumière shop mailbox", "Own shop", 15,
        (("fr", 80), ("en", 8), ("de", 4), ("es", 4), ("it", 4)), "email",
    ),
    ChannelSpec(
        "fnac", "technoplus", "fnac", "fnac", "Fnac", "Marketplaces", 10, _FR, "fnac_customer",
    ),
    ChannelSpec(
        "darty", "technoplus", "mirakl", "darty", "Darty via Mirakl", "Marketplaces", 10, _FR,
        "mirakl_customer",
    ),
    ChannelSpec(
        "ebay", "technoplus", "ebay", "ebay", "eBay", "Marketplaces", 15,
        (("fr", 50), ("en", 20), ("de", 15), ("es", 8), ("it", 7)), "ebay_user",
    ),
    ChannelSpec(
        "rakuten", "technoplus", "rakuten", "rakuten", "Rakuten France", "Marketplaces", 5, _FR,
        "rakuten_user",
    ),
)  # fmt: skip

USERS = (
    UserSpec("supervisor", "Claire", "Martin", Role.SUPERVISOR, TEAMS, is_staff=True),
    UserSpec("agent1", "Julien", "Moreau", Role.AGENT, ("Marketplaces",), ("fr", "en", "de")),
    UserSpec("agent2", "Camille", "Dubois", Role.AGENT, TEAMS, ("fr", "en")),
    UserSpec("agent3", "Sofia", "Rossi", Role.AGENT, ("Marketplaces",), ("fr", "it", "es", "en")),
    UserSpec("agent4", "Lena", "Schmidt", Role.AGENT, ("Own shop",), ("fr", "de", "en")),
    UserSpec("analyst", "Hugo", "Bernard", Role.ANALYST),
    UserSpec("admin", "Alex", "Admin", Role.OWNER, is_staff=True, is_superuser=True),
)

# Final state of a conversation → share of the demo (resolved 55 %, open and owed a reply 25 %...).
OUTCOMES: dict[str, int] = {
    "resolved": 55,
    "needs_reply": 25,
    "pending": 10,
    "snoozed": 3,
    "open_replied": 7,
}

# Timeline of each action inside an agent's step, relative to the reply.
_EVENT_OFFSETS: dict[str, timedelta] = {
    EventKind.ASSIGNED: -4 * MINUTE,
    EventKind.PRIORITY_CHANGED: -3 * MINUTE,
    EventKind.TAGGED: -2 * MINUTE,
    EventKind.NOTE_ADDED: -MINUTE,
    EventKind.REPLIED: timedelta(0),
    EventKind.DELIVERED: timedelta(seconds=20),
    EventKind.STATUS_CHANGED: timedelta(seconds=30),
    EventKind.SNOOZED: timedelta(seconds=30),
}

# Hours (local) when buyers write, 7h..23h: a morning peak and an evening one.
_BUYER_HOURS = tuple(range(7, 24))
_BUYER_HOUR_WEIGHTS = (1, 3, 5, 6, 6, 5, 5, 5, 4, 4, 4, 5, 6, 6, 5, 3, 2)


# -- the plan (pure data, no database) ---------------------------------------------------------


@dataclass
class Buyer:
    first: str
    name: str
    email: str
    identity_kind: str
    identity_value: str
    repeat: bool = False


@dataclass
class OrderPlan:
    external_id: str
    status: str
    items: list[dict[str, object]]
    total: Decimal
    ordered_at: datetime
    ship_by: datetime
    shipped_at: datetime | None = None
    expected_delivery_at: datetime | None = None
    delivered_at: datetime | None = None
    carrier: str = ""
    tracking_number: str = ""
    tracking_url: str = ""


@dataclass
class BuyerMessage:
    at: datetime
    subject: str
    text: str
    external_id: str
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)


@dataclass
class AgentStep:
    at: datetime
    actor: str
    assign_to: str = ""
    assign_by: str = ""
    tags: list[str] = field(default_factory=list)
    priority: int | None = None
    note: str = ""
    reply: str = ""
    delivery_id: str = ""
    status: str = ""
    snooze_until: datetime | None = None


@dataclass
class ConversationPlan:
    index: int
    channel: ChannelSpec
    language: str
    intent: str
    outcome: str
    buyer: Buyer
    thread_id: str
    order: OrderPlan | None
    exchanges: list[tuple[BuyerMessage, AgentStep | None]]

    @property
    def last_activity(self) -> datetime:
        buyer, step = self.exchanges[-1]
        return step.at + _EVENT_OFFSETS[EventKind.STATUS_CHANGED] if step else buyer.at


def reference_now() -> datetime:
    """Today at midnight (local time): the demo's "now", stable for a whole day."""
    local = timezone.localtime()
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def build_plan(
    *, seed: int, conversations: int, days: int, now: datetime
) -> list[ConversationPlan]:
    """The whole demo as data; the same arguments always give the same plan."""
    planner = _Planner(random.Random(seed), now=now, days=days)
    return [planner.conversation(i) for i in range(conversations)]


class _Planner:
    def __init__(self, rng: random.Random, *, now: datetime, days: int) -> None:
        self.rng = rng
        self.now = now
        self.days = days
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.buyers: dict[tuple[str, str], list[Buyer]] = {}
        self.used: set[str] = set()
        self.seq: dict[str, int] = {spec.key: rng.randrange(10**7, 9 * 10**7) for spec in CHANNELS}
        self.shop_orders = rng.randrange(100_000, 200_000)
        self.users = {u.username: u for u in USERS}
        self.noted = False  # at most one internal note per conversation

    # - choices -

    def weighted[T](self, items: Sequence[tuple[T, int]]) -> T:
        return self.rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]

    def pick(self, templates: Sequence[str], ctx: dict[str, str]) -> str:
        """A template whose fields all have a value here (no tracking number → no "suivi ...")."""
        usable = [t for t in templates if all(ctx.get(f) for f in _fields(t))]
        return self.rng.choice(usable or list(templates)).format(**ctx)

    def conversation(self, index: int) -> ConversationPlan:
        rng = self.rng
        spec = self.weighted([(c, c.weight) for c in CHANNELS])
        lang = self.weighted(spec.languages)
        outcome = self.weighted(list(OUTCOMES.items()))
        intents = [
            (i, w)
            for i, w in phrases.INTENT_WEIGHTS.items()
            if i != "thanks" or outcome == "resolved"  # a thank-you is closed, never left open
        ]
        intent = self.weighted(intents)
        buyer = self.buyer(spec, lang)
        thread_id = "" if spec.is_email else self.thread_id(spec)
        self.noted = False

        n = self.exchange_count(intent, outcome)
        thanks_close = outcome == "resolved" and n >= 2 and rng.random() < 0.3
        partial = outcome == "needs_reply" and rng.random() < 0.4
        buyer_times, agent_times = self.timeline(outcome, n, partial)
        order = self.order(spec, intent, outcome, buyer_times[0])
        if spec.key == "fnac":
            # Fnac has no thread ids: the connector names a thread by what it is about (see
            # connectors/fnac), and a reply goes to that order or offer.
            thread_id = f"ORDER:{order.external_id}" if order else f"OFFER:{thread_id}"

        product, other = self.products(spec, order)
        ctx = self.context(spec, lang, buyer, order, product, other)
        assignee = self.agent(spec, lang) if rng.random() < 0.8 else ""
        exchanges: list[tuple[BuyerMessage, AgentStep | None]] = []
        previous_ids: list[str] = []
        subject = ""
        for k, (b_at, a_at) in enumerate(zip(buyer_times, agent_times, strict=True)):
            last = k == n - 1
            if k == 0:
                text = self.pick(phrases.OPENINGS[intent][lang], ctx)
                if spec.key == "amazon" and order:
                    subject = phrases.AMAZON_SUBJECT[lang].format(**ctx)
                else:
                    subject = self.pick(phrases.SUBJECTS[intent][lang], ctx)
                msg_subject = subject
            else:
                pool = (
                    phrases.THANKS_FOLLOW_UPS[lang]
                    if last and thanks_close
                    else phrases.FOLLOW_UPS[phrases.INTENT_GROUP[intent]][lang]
                )
                text = self.pick(pool, ctx)
                msg_subject = f"Re: {subject}" if spec.is_email else subject
            sign_off = self.pick(phrases.BUYER_SIGN_OFFS[lang], ctx)
            message = BuyerMessage(
                at=b_at,
                subject=msg_subject,
                text=f"{text}\n\n{sign_off}" if sign_off else text,
                external_id="",
            )
            if spec.is_email:
                message.message_id = self.message_id(spec, buyer)
                message.external_id = message.message_id
                if previous_ids:
                    message.in_reply_to = previous_ids[-1]
                    message.references = list(previous_ids)
                previous_ids.append(message.message_id)
            else:
                message.external_id = self.external_id(spec)

            step = None
            if a_at is not None:
                step = self.agent_step(
                    spec, lang, intent, outcome, ctx, order, a_at,
                    k=k, last=last, partial=partial and last, thanks_close=thanks_close,
                    assignee=assignee,
                )  # fmt: skip
            exchanges.append((message, step))
        return ConversationPlan(
            index, spec, lang, intent, outcome, buyer, thread_id, order, exchanges
        )

    def exchange_count(self, intent: str, outcome: str) -> int:
        if intent == "thanks":
            return 1
        shapes: dict[str, tuple[tuple[int, int], ...]] = {
            "resolved": ((1, 50), (2, 35), (3, 15)),
            "needs_reply": ((1, 60), (2, 30), (3, 10)),
            "pending": ((1, 60), (2, 40)),
            "snoozed": ((1, 70), (2, 30)),
            "open_replied": ((1, 60), (2, 40)),
        }
        return self.weighted(shapes[outcome])

    def agent_step(
        self,
        spec: ChannelSpec,
        lang: str,
        intent: str,
        outcome: str,
        ctx: dict[str, str],
        order: OrderPlan | None,
        at: datetime,
        *,
        k: int,
        last: bool,
        partial: bool,
        thanks_close: bool,
        assignee: str,
    ) -> AgentStep:
        rng = self.rng
        actor = assignee or self.agent(spec, lang)
        step = AgentStep(at=at, actor=actor)
        if k == 0:
            if assignee:
                step.assign_to = assignee
                step.assign_by = "supervisor" if rng.random() < 0.35 else assignee
            if rng.random() < 0.9:
                step.tags.append(phrases.TAGS_BY_INTENT[intent])
            atoz = (
                spec.key == "amazon"
                and intent in ("not_received", "refund")
                and rng.random() < 0.25
            )
            if atoz:
                step.tags.append("A-to-z")
                step.priority = Priority.URGENT
            elif intent in ("not_received", "damaged") and rng.random() < 0.3:
                step.priority = Priority.HIGH
            if ctx["repeat"]:
                step.tags.append("client fidèle")
            if intent in ("damaged", "not_received", "wrong_item") and rng.random() < 0.1:
                step.tags.append("geste commercial")
        if not self.noted and rng.random() < 0.2:
            step.note = self.pick(phrases.NOTES[intent], ctx)
            self.noted = True
        if partial:
            return step  # triaged (assigned, tagged) but not answered yet

        ctx = {**ctx, "agent": self.signature_name(actor)}
        body = ""
        if last and outcome == "pending":
            body = self.pick(phrases.ASK_REPLIES[lang], ctx)
        elif last and thanks_close:
            body = ""  # the buyer said thanks: resolve without writing back
        elif intent == "thanks":
            body = self.pick(phrases.REPLIES[intent][lang], ctx) if rng.random() < 0.3 else ""
        elif k == 0:
            late = intent == "where_is_order" and order is not None and order.shipped_at is None
            pool = phrases.LATE_REPLIES[lang] if late else phrases.REPLIES[intent][lang]
            body = self.pick(pool, ctx)
        else:
            body = self.pick(phrases.SECOND_REPLIES[lang], ctx)
        if body:
            greeting = phrases.GREETINGS[lang].format(**ctx)
            signature = phrases.SIGNATURES[lang].format(**ctx)
            step.reply = f"{greeting}\n\n{body}\n\n{signature}"
            step.delivery_id = (
                self.message_id(spec, None) if spec.is_email else self.external_id(spec)
            )
        if not last and body and outcome != "pending" and rng.random() < 0.12:
            # Closed too early: the buyer's next message reopens it (the reopen-rate KPI).
            step.status = Status.RESOLVED
        if last:
            step.status = {
                "resolved": Status.RESOLVED,
                "pending": Status.PENDING,
                "snoozed": Status.SNOOZED,
            }.get(outcome, "")
            if outcome == "snoozed":
                local = self.now.astimezone(self.tz) + rng.randint(1, 4) * DAY
                step.snooze_until = datetime.combine(
                    local.date(), dtime(9, 0), tzinfo=self.tz
                ).astimezone(UTC)
        return step

    # - people -

    def buyer(self, spec: ChannelSpec, lang: str) -> Buyer:
        rng = self.rng
        pool = self.buyers.setdefault((spec.key, lang), [])
        if pool and rng.random() < 0.12:
            known = rng.choice(pool)
            return Buyer(known.first, known.name, known.email, spec.identity_kind,
                         known.identity_value, repeat=True)  # fmt: skip
        while True:
            first = rng.choice(phrases.FIRST_NAMES[lang])
            last = rng.choice(phrases.LAST_NAMES[lang])
            provider = rng.choice(phrases.EMAIL_PROVIDERS[lang])
            number = str(rng.randint(1, 99)) if rng.random() < 0.4 else ""
            email = f"{_ascii(first)}.{_ascii(last)}{number}@{provider}.example"
            value = email
            if spec.key == "amazon":
                alias = "".join(rng.choices(string.ascii_lowercase + string.digits, k=16))
                value = email = f"{alias}@marketplace.amazon.{phrases.AMAZON_TLD[lang]}"
            elif spec.key == "cdiscount":
                value, email = str(rng.randrange(10**7, 10**8)), ""
            elif spec.key == "fnac":
                value, email = _uuid(rng).hex[:20].upper(), ""
            elif spec.key == "darty":
                value, email = f"darty-{rng.randrange(10**6, 10**7)}", ""
            elif spec.key == "ebay":
                value = f"{_ascii(first)}_{_ascii(last)[:5]}{rng.randint(1, 999)}"
                email = ""
            elif spec.key == "rakuten":  # a pseudo, as Rakuten shows buyers
                value, email = f"{_ascii(first)}{_ascii(last)[:3]}{rng.randint(10, 99)}", ""
            if value not in self.used and (not email or email not in self.used):
                break
        self.used.update({value, email} - {""})
        buyer = Buyer(first, f"{first} {last}", email, spec.identity_kind, value)
        pool.append(buyer)
        return buyer

    def agent(self, spec: ChannelSpec, lang: str) -> str:
        team = [u for u in USERS if u.role == Role.AGENT and spec.team in u.teams]
        speakers = [u for u in team if lang in u.languages]
        return self.rng.choice(speakers or team).username

    def signature_name(self, username: str) -> str:
        user = self.users[username]
        return f"{user.first_name} {user.last_name[:1]}."

    # - time -

    def timeline(
        self, outcome: str, n: int, partial: bool
    ) -> tuple[list[datetime], list[datetime | None]]:
        """Times of each buyer message and agent step, placed in the window the outcome needs."""
        rng = self.rng
        base = (self.now - 400 * DAY).astimezone(self.tz).date()
        t = self.local(
            base, self.weighted(list(zip(_BUYER_HOURS, _BUYER_HOUR_WEIGHTS, strict=True)))
        )
        buyer_times: list[datetime] = []
        agent_times: list[datetime | None] = []
        for k in range(n):
            buyer_times.append(t)
            if k == n - 1 and outcome == "needs_reply" and not partial:
                agent_times.append(None)
                break
            quick = k == n - 1 and partial
            delay = timedelta(minutes=rng.randint(5, 90)) if quick else self.reply_delay()
            answered = self.working_time(t + delay)
            agent_times.append(answered)
            t = self.buyer_time(answered + timedelta(minutes=rng.randint(60, 72 * 60)))

        start = buyer_times[0]
        end = buyer_times[-1] if outcome == "needs_reply" else agent_times[-1] or buyer_times[-1]
        now = self.now
        if outcome == "resolved":
            lo, hi = now - self.days * DAY + (end - start), now - HOUR
        elif outcome == "needs_reply":
            # Most came in yesterday (due soon, or just breached); a backlog is older.
            lo, hi = (
                (now - DAY, now - 10 * MINUTE)
                if rng.random() < 0.65
                else (now - 8 * DAY, now - DAY)
            )
        elif outcome == "pending":
            lo, hi = now - 6 * DAY, now - 30 * MINUTE
        elif outcome == "snoozed":
            lo, hi = now - 5 * DAY, now - 30 * MINUTE
        else:
            lo, hi = now - 4 * DAY, now - 30 * MINUTE
        # Whole days, so that the hours of the day (business hours for agents) are kept.
        k_min, k_max = math.ceil((lo - end) / DAY), math.floor((hi - end) / DAY)
        shift = (rng.randint(k_min, k_max) if k_min <= k_max else k_max) * DAY
        buyer_times = [b + shift for b in buyer_times]
        agent_times = [a + shift if a else None for a in agent_times]
        if agent_times[-1] is not None and agent_times[-1] > now - MINUTE:
            agent_times[-1] = None  # a triage step that would be in the future: not done yet
        return buyer_times, agent_times

    def local(self, day: date, hour: int) -> datetime:
        minutes = hour * 60 + self.rng.randrange(60)
        moment = datetime.combine(day, dtime(0, 0), tzinfo=self.tz) + timedelta(
            minutes=minutes, seconds=self.rng.randrange(60)
        )
        return moment.astimezone(UTC)

    def reply_delay(self) -> timedelta:
        r = self.rng.random()
        if r < 0.4:
            return timedelta(minutes=self.rng.randint(10, 120))
        if r < 0.75:
            return timedelta(minutes=self.rng.randint(120, 8 * 60))
        if r < 0.95:
            return timedelta(minutes=self.rng.randint(8 * 60, 24 * 60))
        return timedelta(minutes=self.rng.randint(24 * 60, 48 * 60))

    def working_time(self, t: datetime) -> datetime:
        """Agents work Monday to Saturday noon, 8:30 to 19:00: move `t` into those hours."""
        local = t.astimezone(self.tz)
        for _ in range(3):
            closes = 13 if local.weekday() == 5 else 19
            if local.weekday() == 6 or local.hour >= closes:
                day = local.date() + DAY
            elif local.hour < 8:
                day = local.date()
            else:
                break
            local = datetime.combine(day, dtime(8, 30), tzinfo=self.tz) + timedelta(
                minutes=self.rng.randint(0, 120)
            )
        return local.astimezone(UTC)

    def buyer_time(self, t: datetime) -> datetime:
        local = t.astimezone(self.tz)
        if local.hour < 7:
            local = local.replace(hour=self.rng.randint(7, 10))
        return local.astimezone(UTC)

    # - orders and ids -

    def order(
        self, spec: ChannelSpec, intent: str, outcome: str, first_message: datetime
    ) -> OrderPlan | None:
        rng = self.rng
        # A question before buying, where the demo's simulator can answer one: Octopia's
        # discussions are all about an order, and the Fnac simulator has no offer threads.
        if (
            intent == "product_question"
            and rng.random() < 0.6
            and spec.key not in ("cdiscount", "fnac")
        ):
            return None
        catalogue = phrases.CATALOGUE[spec.shop]
        count = self.weighted([(1, 70), (2, 22), (3, 8)])
        items: list[dict[str, object]] = []
        total = Decimal("0")
        for sku, title, price in rng.sample(catalogue, count):
            quantity = 2 if rng.random() < 0.1 else 1
            items.append({"sku": sku, "title": title, "quantity": quantity, "unit_price": price})
            total += Decimal(price) * quantity
        carrier = self.weighted([(name, w) for name, (w, _, _) in phrases.CARRIERS.items()])
        _, pattern, url = phrases.CARRIERS[carrier]
        tracking = "".join(
            str(rng.randrange(10)) if c == "#" else rng.choice(string.ascii_uppercase)
            if c == "A" else c
            for c in pattern
        )  # fmt: skip

        def hours(lo: int, hi: int) -> timedelta:
            return timedelta(minutes=rng.randint(lo * 60, hi * 60))

        t0 = first_message
        shipped: datetime | None
        expected: datetime | None = None
        delivered: datetime | None = None
        if intent == "cancellation":
            ordered = t0 - hours(1, 20)
            shipped = None
            status = OrderStatus.CANCELLED if outcome == "resolved" else OrderStatus.ACCEPTED
        elif intent == "where_is_order":
            ordered = t0 - hours(50, 140)
            if rng.random() < 0.2:  # late: not shipped by the promised date
                shipped, status = None, OrderStatus.ACCEPTED
            else:
                shipped = ordered + hours(8, 30)
                expected = shipped + hours(48, 120)
                status = OrderStatus.SHIPPED
                if outcome == "resolved" and expected < self.now:
                    delivered, status = expected, OrderStatus.DELIVERED
        elif intent == "not_received":
            ordered = t0 - hours(8 * 24, 20 * 24)
            shipped = ordered + hours(8, 30)
            expected = shipped + hours(48, 96)
            status = OrderStatus.SHIPPED
        else:
            back = hours(10 * 24, 20 * 24) if intent == "refund" else hours(2, 6 * 24)
            delivered = t0 - back
            expected = delivered
            shipped = delivered - hours(30, 90)
            ordered = shipped - hours(6, 40)
            status = OrderStatus.DELIVERED
            if outcome == "resolved" and intent == "return":
                status = OrderStatus.RETURNED
            elif outcome == "resolved" and intent == "refund":
                status = OrderStatus.REFUNDED
        shipped_ok = shipped is not None
        return OrderPlan(
            external_id=self.order_number(spec, ordered),
            status=status,
            items=items,
            total=total,
            ordered_at=ordered,
            ship_by=ordered + 2 * DAY,
            shipped_at=shipped,
            expected_delivery_at=expected,
            delivered_at=delivered,
            carrier=carrier if shipped_ok else "",
            tracking_number=tracking if shipped_ok else "",
            tracking_url=url.format(tracking) if shipped_ok else "",
        )

    def order_number(self, spec: ChannelSpec, ordered: datetime) -> str:
        rng = self.rng
        while True:
            if spec.key == "amazon":  # 3-7-7 digits, as Amazon prints them
                prefix = rng.choice(("171", "402", "403", "404", "405", "406", "407", "408"))
                number = f"{prefix}-{rng.randrange(10**7):07d}-{rng.randrange(10**7):07d}"
            elif spec.key == "cdiscount":  # date and time of the order, then 5 letters
                stamp = ordered.astimezone(self.tz).strftime("%y%m%d%H%M")
                number = stamp + "".join(rng.choices(string.ascii_uppercase, k=5))
            elif spec.key == "fnac":
                number = "".join(rng.choices(string.ascii_uppercase + string.digits, k=13))
            elif spec.key == "darty":  # Mirakl: commercial id and a suffix per shop
                number = f"{rng.randrange(10**7, 10**8)}-A"
            elif spec.key == "ebay":
                number = f"{rng.randrange(10, 100)}-{rng.randrange(10**4, 10**5)}-"
                number += f"{rng.randrange(10**4, 10**5)}"
            elif spec.key == "rakuten":  # purchase ids are 9-10 digit numbers
                number = str(rng.randrange(10**9, 10**10))
            else:
                self.shop_orders += rng.randint(1, 9)
                number = f"ML-{self.shop_orders}"
            if number not in self.used:
                self.used.add(number)
                return number

    def products(self, spec: ChannelSpec, order: OrderPlan | None) -> tuple[str, str]:
        catalogue = phrases.CATALOGUE[spec.shop]
        titles = [title for _, title, _ in catalogue]
        product = str(order.items[0]["title"]) if order else self.rng.choice(titles)
        other = self.rng.choice([t for t in titles if t != product])
        return product, other

    def context(
        self,
        spec: ChannelSpec,
        lang: str,
        buyer: Buyer,
        order: OrderPlan | None,
        product: str,
        other: str,
    ) -> dict[str, str]:
        shop = next(s.name for s in SHOPS if s.slug == spec.shop)

        def day(value: datetime | None) -> str:
            if value is None:
                return ""
            local = value.astimezone(self.tz)
            return local.strftime("%d.%m." if lang == "de" else "%d/%m")

        total = ""
        if order:
            amount = f"{order.total:.2f}"
            total = f"€{amount}" if lang == "en" else f"{amount.replace('.', ',')} €"
        return {
            "order": order.external_id if order else "",
            "product": product,
            "other": other,
            "carrier": order.carrier if order else "",
            "tracking": order.tracking_number if order else "",
            "first": buyer.first,
            "customer": buyer.name,
            "shop": shop,
            "agent": "",
            "ordered": day(order.ordered_at) if order else "",
            "shipped": day(order.shipped_at) if order else "",
            "delivered": day(order.expected_delivery_at) if order else "",
            "eta": day(order.expected_delivery_at) if order else "",
            "total": total,
            "repeat": "yes" if buyer.repeat else "",
        }

    def thread_id(self, spec: ChannelSpec) -> str:
        if spec.key in ("fnac", "darty"):  # Mirakl-style APIs use UUIDs for threads
            return str(_uuid(self.rng))
        return str(self.rng.randrange(10**9, 10**10))

    def external_id(self, spec: ChannelSpec) -> str:
        if spec.key in ("fnac", "darty"):
            return str(_uuid(self.rng))
        self.seq[spec.key] += self.rng.randint(1, 40)
        return str(self.seq[spec.key])

    def message_id(self, spec: ChannelSpec, buyer: Buyer | None) -> str:
        token = _uuid(self.rng).hex
        if buyer is None:
            domain = "mail.maison-lumiere.example"
        elif spec.key == "amazon":
            domain = "eu-west-1.amazonses.example"
        else:
            domain = f"mail.{buyer.email.rsplit('@', 1)[-1]}"
        return f"<{token}@{domain}>"


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


# -- loading -----------------------------------------------------------------------------------


@dataclass
class Summary:
    conversations: int
    messages: int
    orders: int
    users: int
    seconds: float


@dataclass
class _World:
    channels: dict[str, Channel]
    users: dict[str, User]


def has_data() -> bool:
    """True when the database already holds shops or conversations (someone's real data)."""
    return Shop.objects.exists() or Conversation.objects.exists()


def load(
    *,
    seed: int,
    conversations: int = 2000,
    days: int = 90,
    now: datetime | None = None,
    log: Callable[[str], None] | None = None,
) -> Summary:
    """Create the demo in an empty database; see the module docstring for how."""
    started = time.monotonic()
    say = log or (lambda _: None)
    now = now or reference_now()
    plans = build_plan(seed=seed, conversations=conversations, days=days, now=now)
    with transaction.atomic():
        world = _create_world()
        orders = _create_orders(plans, world)
    say(f"{len(plans)} conversations planned; loading them through ingest and actions")

    conv_ids: dict[int, int] = {}
    rounds = max((len(p.exchanges) for p in plans), default=0)
    for r in range(rounds):
        batch = [(p, p.exchanges[r][0]) for p in plans if len(p.exchanges) > r]
        counts = ingest_many(
            (_inbound(p, m, world) for p, m in batch), source=SOURCE, batch_size=500
        )
        if counts[Outcome.STORED] != len(batch):
            raise DemoError(f"ingest stored {counts[Outcome.STORED]} of {len(batch)} messages")
        _map_conversations(batch, world, conv_ids, first_round=r == 0)
        steps = [(p, step) for p, _ in batch if (step := p.exchanges[r][1]) is not None]
        _apply_steps(steps, conv_ids, world)
        say(f"round {r + 1}/{rounds}: {len(batch)} buyer messages, {len(steps)} agent steps")
    _finish(plans, conv_ids, orders)
    load_templates()
    # After the history: the example rules act on what comes next, not on the past.
    demo_rules.install()
    say("example rules switched on (settings → rules)")
    from comptoir.notifications import demo as notifications_demo

    notifications_demo.setup(world.users["admin"])
    return Summary(
        conversations=len(conv_ids),
        messages=Message.objects.filter(channel__in=world.channels.values()).count(),
        orders=len(orders),
        users=len(world.users),
        seconds=time.monotonic() - started,
    )


def _create_world() -> _World:
    shops = {s.slug: Shop.objects.create(name=s.name, slug=s.slug) for s in SHOPS}
    teams = {name: Team.objects.create(name=name) for name in TEAMS}
    channels = {
        c.key: Channel.objects.create(
            shop=shops[c.shop], kind=c.kind, marketplace=c.marketplace, name=c.name,
            team=teams[c.team],
        )
        for c in CHANNELS
    }  # fmt: skip
    # Amazon's SP-API beside the Amazon mailbox: it reads the orders the buyers' mail names
    # (the mailbox cannot), so live Amazon conversations get their order too.
    channels[AMAZON_API] = Channel.objects.create(
        shop=shops["maison-lumiere"], kind="amazon", marketplace="amazon",
        name="Amazon FR (SP-API)", team=teams["Marketplaces"],
    )  # fmt: skip
    # One hash for every demo account: hashing is deliberately slow (~0.3 s each), and they all
    # share the published demo password anyway.
    password = make_password(DEMO_PASSWORD)
    users: dict[str, User] = {}
    for spec in USERS:
        user = User(
            username=spec.username,
            first_name=spec.first_name,
            last_name=spec.last_name,
            email=f"{spec.username}@comptoir-demo.example",
            role=spec.role,
            is_staff=spec.is_staff,
            is_superuser=spec.is_superuser,
            language="fr",
            password=password,
        )
        user.save()
        for team in spec.teams:
            teams[team].members.add(user)
        users[spec.username] = user
    Tag.objects.bulk_create(Tag(name=n, color=c) for n, c in phrases.TAG_COLORS.items())
    return _World(channels=channels, users=users)


def _create_orders(plans: list[ConversationPlan], world: _World) -> dict[int, Order]:
    """Orders as the marketplaces' order sync would have stored them."""
    orders = {
        p.index: Order(
            shop_id=world.channels[p.channel.key].shop_id,
            channel=world.channels[p.channel.key],
            external_id=p.order.external_id,
            status=p.order.status,
            total=p.order.total,
            items=p.order.items,
            ordered_at=p.order.ordered_at,
            ship_by=p.order.ship_by,
            shipped_at=p.order.shipped_at,
            expected_delivery_at=p.order.expected_delivery_at,
            delivered_at=p.order.delivered_at,
            carrier=p.order.carrier,
            tracking_number=p.order.tracking_number,
            tracking_url=p.order.tracking_url,
            synced_at=p.exchanges[0][0].at,
            created_at=p.order.ordered_at,
        )
        for p in plans
        if p.order
    }
    Order.objects.bulk_create(orders.values(), batch_size=500)
    return orders


# What a buyer calls the photo of a damaged parcel, by language.
_PHOTO_NAMES = {"fr": "photo_colis.png", "de": "Foto_Paket.png", "es": "foto_paquete.png"}


def _inbound(plan: ConversationPlan, message: BuyerMessage, world: _World) -> InboundMessage:
    buyer = plan.buyer
    attachments = []
    if plan.intent == "damaged" and message is plan.exchanges[0][0]:
        # The buyer's first message shows the damage.
        attachments.append(
            InboundAttachment(
                filename=_PHOTO_NAMES.get(plan.language, "parcel_photo.png"),
                content_type="image/png",
                data=demo_files.damaged_parcel_png(plan.index % 8),
            )
        )
    return InboundMessage(
        attachments=attachments,
        channel_id=world.channels[plan.channel.key].pk,
        external_id=message.external_id,
        sender=Party(
            identity_kind=buyer.identity_kind,
            identity_value=buyer.identity_value,
            name=buyer.name,
            email=buyer.email,
        ),
        subject=message.subject,
        text=message.text,
        sent_at=message.at,
        thread_id=plan.thread_id,
        message_id=message.message_id,
        in_reply_to=message.in_reply_to,
        references=message.references,
        order_number=plan.order.external_id if plan.order else "",
        language=plan.language,
    )


def _map_conversations(
    batch: list[tuple[ConversationPlan, BuyerMessage]],
    world: _World,
    conv_ids: dict[int, int],
    *,
    first_round: bool,
) -> None:
    """Find where ingest put each message; a follow-up must join its own conversation."""
    by_channel: dict[int, list[str]] = {}
    for p, m in batch:
        by_channel.setdefault(world.channels[p.channel.key].pk, []).append(m.external_id)
    found: dict[tuple[int, str], int] = {}
    for channel_id, ids in by_channel.items():
        for part in chunks(ids, 500):
            rows = Message.objects.filter(channel_id=channel_id, external_id__in=part)
            for ext, cid in rows.values_list("external_id", "conversation_id"):
                found[(channel_id, ext)] = cid
    for p, m in batch:
        cid = found[(world.channels[p.channel.key].pk, m.external_id)]
        if first_round:
            conv_ids[p.index] = cid
        elif conv_ids[p.index] != cid:
            raise DemoError(
                f"a follow-up of conversation {conv_ids[p.index]} was threaded into {cid}"
            )
    if first_round and len(set(conv_ids.values())) != len(conv_ids):
        raise DemoError("two first messages were threaded into the same conversation")


def _apply_steps(
    steps: list[tuple[ConversationPlan, AgentStep]], conv_ids: dict[int, int], world: _World
) -> None:
    if not steps:
        return
    since = timezone.now()
    convs = Conversation.objects.in_bulk([conv_ids[p.index] for p, _ in steps])
    message_times: dict[int, datetime] = {}
    # Replies are marked delivered in the same transaction as they are queued, so whichever task
    # backend runs, `send_message` would find nothing to send. The dummy backend also keeps
    # thousands of such no-op tasks out of the queue, where a `--serve` worker would churn through
    # them; and the demo channels have no connector settings to send with anyway.
    with override_settings(TASKS={"default": {"BACKEND": _DUMMY_TASKS}}):
        for part in chunks(steps, 200):
            with transaction.atomic():  # one commit per 200 steps rather than per action
                for p, step in part:
                    files = _invoice(p, step) if step.reply else []
                    _apply_step(convs[conv_ids[p.index]], step, world, message_times, files)
    _backdate(steps, conv_ids, convs, message_times, since)


_DUMMY_TASKS = "django.tasks.backends.dummy.DummyBackend"


def _invoice(plan: ConversationPlan, step: AgentStep) -> list[actions.NewAttachment]:
    """The invoice the agent sends with the first answer to an invoice request."""
    order = plan.order
    first_reply = next((s for _, s in plan.exchanges if s and s.reply), None)
    if plan.intent != "invoice" or order is None or step is not first_reply:
        return []
    shop = next(s.name for s in SHOPS if s.slug == plan.channel.shop)
    pdf = demo_files.invoice_pdf(
        number=f"F{order.ordered_at:%Y%m}-{plan.index + 1:05d}",
        shop=shop,
        customer=plan.buyer.name,
        order=order.external_id,
        issued=order.ordered_at,
        lines=[
            (
                str(item["title"]),
                int(str(item["quantity"])),
                f"{Decimal(str(item['unit_price'])) * int(str(item['quantity'])):.2f}".replace(
                    ".", ","
                ),
            )
            for item in order.items
        ],
        total=f"{order.total:.2f}".replace(".", ","),
    )
    name = f"facture-{order.external_id}.pdf"
    return [actions.NewAttachment(filename=name, content_type="application/pdf", data=pdf)]


def _apply_step(
    conv: Conversation,
    step: AgentStep,
    world: _World,
    message_times: dict[int, datetime],
    files: list[actions.NewAttachment],
) -> None:
    users = world.users
    actor = users[step.actor]
    if step.assign_to:
        actions.assign_conversation(
            conv, assignee=users[step.assign_to], actor=users[step.assign_by]
        )
    if step.priority is not None:
        actions.set_priority(conv, priority=step.priority, actor=actor)
    for tag in step.tags:
        actions.tag_conversation(conv, tag=tag, actor=actor)
    if step.note:
        note = actions.add_note(conv, actor=actor, text=step.note)
        message_times[note.pk] = step.at + _EVENT_OFFSETS[EventKind.NOTE_ADDED]
    if step.reply:
        then = step.status if step.status in (Status.RESOLVED, Status.PENDING) else None
        reply = actions.reply(
            conv, actor=actor, text=step.reply, then_status=then, attachments=files
        )
        actions.record_delivery(
            reply,
            external_id=step.delivery_id,
            sent_at=step.at + _EVENT_OFFSETS[EventKind.DELIVERED],
        )
        message_times[reply.pk] = step.at
    elif step.status == Status.RESOLVED:
        actions.set_status(conv, status=Status.RESOLVED, actor=actor)
    if step.status == Status.SNOOZED and step.snooze_until:
        actions.snooze_conversation(conv, until=step.snooze_until, actor=actor)


def _backdate(
    steps: list[tuple[ConversationPlan, AgentStep]],
    conv_ids: dict[int, int],
    convs: dict[int, Conversation],
    message_times: dict[int, datetime],
    since: datetime,
) -> None:
    """Move what the actions just stamped with the real time to the step's time in the past.

    Demo only: actions always act "now", and a history needs last month's replies. Everything
    stamped at or after `since` was written by this round's actions; the simulated times are all
    before today, so the two never mix.
    """
    at_by_conv = {conv_ids[p.index]: step.at for p, step in steps}
    Message.objects.bulk_update(
        [Message(pk=pk, created_at=t, received_at=t) for pk, t in message_times.items()],
        ["created_at", "received_at"],
        batch_size=500,
    )
    events = Event.objects.filter(conversation_id__in=at_by_conv, created_at__gte=since)
    Event.objects.bulk_update(
        [
            Event(pk=pk, created_at=at_by_conv[cid] + _EVENT_OFFSETS.get(kind, timedelta(0)))
            for pk, cid, kind in events.values_list("pk", "conversation_id", "kind")
            if cid is not None
        ],
        ["created_at"],
        batch_size=500,
    )
    stamped = ["first_response_at", "last_outbound_at", "last_message_at", "resolved_at"]
    for cid, at in at_by_conv.items():
        conv = convs[cid]
        for name in stamped:
            value = getattr(conv, name)
            if value is not None and value >= since:
                offset = (
                    _EVENT_OFFSETS[EventKind.STATUS_CHANGED]
                    if name == "resolved_at"
                    else timedelta()
                )
                setattr(conv, name, at + offset)
    Conversation.objects.bulk_update([convs[cid] for cid in at_by_conv], stamped, batch_size=500)


def _finish(
    plans: list[ConversationPlan], conv_ids: dict[int, int], orders: dict[int, Order]
) -> None:
    """Fields that later pipeline stages would fill in (triage, order sync), and the past.

    Demo only, like `_backdate`: the intent is known by construction, and the order links are
    what the order sync would make.
    """
    by_pk = Conversation.objects.in_bulk(list(conv_ids.values()))
    for p in plans:
        conv = by_pk[conv_ids[p.index]]
        conv.intent = p.intent
        conv.order = orders.get(p.index)
        conv.updated_at = p.last_activity
        order = orders.get(p.index)
        if order is not None:
            order.customer_id = conv.customer_id
    Conversation.objects.bulk_update(
        list(by_pk.values()), ["intent", "order", "updated_at"], batch_size=500
    )
    Order.objects.bulk_update(list(orders.values()), ["customer"], batch_size=500)
    ids = list(conv_ids.values())
    # Ingest stamps when it received a message (now); in the story it came in as it was sent.
    for part in chunks(ids, 500):
        Message.objects.filter(conversation_id__in=part, direction=Direction.IN).update(
            received_at=F("sent_at")
        )
    CustomerIdentity.objects.update(
        created_at=Subquery(
            Customer.objects.filter(pk=OuterRef("customer_id")).values("created_at")
        )
    )
