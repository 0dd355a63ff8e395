"""Build the demo: a seller with two shops, eight channels, a team of agents and a year of history.

Everything is derived from `random.Random(seed)` and a reference "now" (today at midnight), so the
same seed on the same day gives the same data. The history goes through the real code: buyer
messages through `inbox.ingest.ingest_many` (bulk mode, which threads follow-ups), the agents'
work through `inbox.actions`. Only what the actions cannot express, the past, is written directly:
actions stamp the real time, and a demo needs replies sent last month.

Loading is done in rounds: round k ingests every conversation's k-th buyer message, then applies
the agents' k-th step, then moves that step's timestamps into the past. A follow-up is therefore
ingested after the reply it answers, and the pipeline computes `needs_reply`, reopening and
respond-by exactly as it would live.

The year before those live weeks (`demo.year`) is written in bulk: resolved conversations with
the seasons of a seller's year, and the orders that never led to a message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import F, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.test.utils import override_settings
from django.utils import timezone

from comptoir.accounts.models import Team, User
from comptoir.connectors.base import InboundAttachment, InboundMessage, Party
from comptoir.demo import attachments as demo_files
from comptoir.demo import cases as demo_cases
from comptoir.demo import kb as kb_demo
from comptoir.demo import phrases
from comptoir.demo import rules as demo_rules
from comptoir.demo.plan import AgentStep, BuyerMessage, ConversationPlan
from comptoir.demo.planner import build_plan
from comptoir.demo.templates import load_templates
from comptoir.demo.world import (
    AMAZON_API,
    CHANNELS,
    DEMO_PASSWORD,
    EVENT_OFFSETS,
    META_CHANNELS,
    SHOPS,
    SPARTOO_API,
    TEAMS,
    USERS,
)
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
    Shop,
    Status,
    Tag,
)
from comptoir.lib.text import chunks
from comptoir.orders.models import Order
from comptoir.privacy.models import ChannelRetention

SOURCE = "demo"


class DemoError(RuntimeError):
    """The demo could not be loaded as planned (a pipeline step did not do what it should)."""


def reference_now() -> datetime:
    """Today at midnight (local time): the demo's "now", stable for a whole day."""
    local = timezone.localtime()
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


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
    year_scale: float = 1.0,
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
    _read(list(conv_ids.values()))
    say("triage read every buyer message")
    _history_and_settings(seed, now, days, year_scale, world, plans, say)
    return Summary(
        conversations=Conversation.objects.filter(channel__in=world.channels.values()).count(),
        messages=Message.objects.filter(channel__in=world.channels.values()).count(),
        orders=Order.objects.count(),
        users=len(world.users),
        seconds=time.monotonic() - started,
    )


def _history_and_settings(
    seed: int,
    now: datetime,
    days: int,
    year_scale: float,
    world: _World,
    plans: list[ConversationPlan],
    say: Callable[[str], None],
) -> None:
    """After the live weeks: the year before them, surveys, templates, rules, notifications,
    the FAQ and the analytics facts."""
    if year_scale > 0:
        # The year before (and the seasons' extra in) the live weeks, resolved, in bulk.
        from comptoir.demo import year

        done = year.seed(
            seed=seed, now=now, channels=world.channels, users=world.users, live=plans,
            scale=year_scale,
        )  # fmt: skip
        say(
            f"a year of history: {done.conversations} resolved conversations, "
            f"{done.messages} messages, {done.orders} orders without a message"
        )
    # The last step of the history: the resolved conversations' surveys and their answers
    # (before the rules: they act on what comes next).
    from comptoir.surveys import demo as surveys_demo

    surveyed = surveys_demo.seed(seed=seed, now=now)
    say(f"{surveyed} satisfaction surveys sent after resolution, some answered")
    load_templates()
    from comptoir.demo import template_uses

    used = template_uses.record(seed)
    say(f"{used} replies made from templates, most from the composer's suggestion")
    # After the history: the example rules act on what comes next, not on the past.
    demo_rules.install()
    say("example rules switched on (settings → rules)")
    from comptoir.notifications import demo as notifications_demo

    notifications_demo.setup(world.users["admin"])
    # The FAQ page shows what buyers ask most, as the weekly mining would have found it.
    from comptoir.faq import actions as faq_actions

    run = faq_actions.mine(now - timedelta(days=days), now=now)
    say(f"FAQ mining: {run.clusters} clusters of similar questions")
    say(kb_demo.seed(world.users["supervisor"], now=now, seed=seed))
    say(f"{demo_cases.seed(seed=seed, now=now)} cases: marketplace claims and agents' returns")
    refunded = demo_cases.refund_some(world.users["admin"], now=now)
    say(f"{refunded} claims refunded from the case panel, the refund taken by the marketplace")
    from comptoir.demo import care as demo_care

    say(demo_care.seed(world.users["supervisor"], seed=seed, now=now))
    from comptoir.demo import health as demo_health

    say(demo_health.seed(now=now))
    from comptoir.demo import chat as demo_chat

    say(demo_chat.seed(Shop.objects.get(slug="maison-lumiere"), Team.objects.get(name="Own shop")))
    _measure(now)
    say("analytics: the facts of every conversation computed")


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
    # Spartoo's web services beside the Spartoo mailbox: the orders its mail names, the returns.
    channels[SPARTOO_API] = Channel.objects.create(
        shop=shops["maison-lumiere"], kind="spartoo", marketplace="spartoo",
        name="Spartoo (web services)", team=teams["Marketplaces"],
    )  # fmt: skip
    # The demo's year of invented history is kept (its dashboards read it): a channel's own
    # retention of "for ever", not its marketplace's rule (Amazon's 30 days would anonymise
    # all but the last month at the worker's first daily run).
    ChannelRetention.objects.bulk_create(ChannelRetention(channel=c) for c in channels.values())
    for kind, name in META_CHANNELS:
        channels[kind] = Channel.objects.create(
            shop=shops["maison-lumiere"], kind=kind, marketplace="shop", name=name,
            team=teams["Own shop"],
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
        message_times[note.pk] = step.at + EVENT_OFFSETS[EventKind.NOTE_ADDED]
    if step.reply:
        then = step.status if step.status in (Status.RESOLVED, Status.PENDING) else None
        reply = actions.reply(
            conv, actor=actor, text=step.reply, then_status=then, attachments=files
        )
        actions.record_delivery(
            reply,
            external_id=step.delivery_id,
            sent_at=step.at + EVENT_OFFSETS[EventKind.DELIVERED],
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
            Event(pk=pk, created_at=at_by_conv[cid] + EVENT_OFFSETS.get(kind, timedelta(0)))
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
                    EVENT_OFFSETS[EventKind.STATUS_CHANGED]
                    if name == "resolved_at"
                    else timedelta()
                )
                setattr(conv, name, at + offset)
    Conversation.objects.bulk_update([convs[cid] for cid in at_by_conv], stamped, batch_size=500)


def _measure(now: datetime) -> None:
    """The analytics facts of the whole history at once. Every action of the load queued its
    own refresh on the way; the rebuild made them moot, so they are dropped rather than left
    for the worker's first minutes."""
    from django_tasks_db.models import DBTaskResult

    from comptoir.analytics import facts as analytics_facts
    from comptoir.analytics.tasks import refresh_facts

    analytics_facts.rebuild(now=now)
    DBTaskResult.objects.filter(task_path=refresh_facts.module_path).delete()


def _read(conv_ids: list[int]) -> None:
    """Triage reads every buyer message, as the worker does after ingest on live traffic."""
    from comptoir.triage.tasks import read_now

    before = Event.objects.aggregate(top=Max("pk"))["top"] or 0
    for part in chunks(conv_ids, 200):
        messages = (
            Message.objects.filter(
                conversation_id__in=part, direction=Direction.IN, triaged_at=None
            )
            .select_related("channel")
            .order_by("received_at", "pk")
        )
        read_now(list(messages))
    # Like the rest of the history: what triage found is dated with the buyer's last message.
    Event.objects.filter(pk__gt=before).update(
        created_at=Coalesce(
            Subquery(
                Conversation.objects.filter(pk=OuterRef("conversation_id")).values(
                    "last_inbound_at"
                )
            ),
            F("created_at"),
        )
    )


def _finish(
    plans: list[ConversationPlan], conv_ids: dict[int, int], orders: dict[int, Order]
) -> None:
    """Fields that later pipeline stages would fill in (order sync), and the past.

    Demo only, like `_backdate`: the order links are what the order sync would make. The
    intents are not written here: triage reads them (`_read`), as on live traffic.
    """
    by_pk = Conversation.objects.in_bulk(list(conv_ids.values()))
    for p in plans:
        conv = by_pk[conv_ids[p.index]]
        conv.order = orders.get(p.index)
        conv.updated_at = p.last_activity
        order = orders.get(p.index)
        if order is not None:
            order.customer_id = conv.customer_id
    Conversation.objects.bulk_update(list(by_pk.values()), ["order", "updated_at"], batch_size=500)
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
