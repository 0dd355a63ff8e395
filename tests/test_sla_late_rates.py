"""The marketplaces' late-response rates (`sla.metrics`) against a plain Python recount of the
rules over random histories: several marketplaces (24 h, 48 h and the own shop's business hours),
answers before and after the windows and exactly on the deadline, auto-messages, failed and
replaced replies, notes, "no response needed" marks before and after the answer."""

from __future__ import annotations

import importlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from comptoir.inbox.models import (
    Channel,
    Conversation,
    DeliveryState,
    Direction,
    Event,
    EventKind,
    Message,
    Shop,
)
from comptoir.lib import businesstime
from comptoir.sla import metrics, policies

NOW = datetime(2026, 6, 15, 10, 30, tzinfo=UTC)
MARKETPLACES = ("amazon", "cdiscount", "fnac", "darty", "ebay", "shop")
STATES = [DeliveryState.SENT] * 5 + [
    DeliveryState.FAILED,
    DeliveryState.REPLACED,
    DeliveryState.QUEUED,
    DeliveryState.NONE,
]


@dataclass(frozen=True)
class Row:
    conversation: int
    channel: int
    direction: str
    auto: bool
    state: str
    at: datetime


@pytest.fixture(autouse=True)
def _fresh_policies() -> None:
    policies.clear_cache()


def _moment(rng: random.Random, anchor: datetime, target: timedelta) -> datetime:
    """A time near `anchor`, often exactly on a boundary the rules compare with."""
    edges = [
        anchor,
        anchor + target,
        anchor + target + timedelta(microseconds=1),
        anchor + target - timedelta(microseconds=1),
        anchor + timedelta(seconds=1),
    ]
    if rng.random() < 0.3:
        return rng.choice(edges)
    at = anchor + timedelta(seconds=rng.uniform(-3600, 4 * 86400))
    return at.replace(microsecond=rng.choice((0, 1, 500_000, 999_999, at.microsecond)))


def _start(rng: random.Random) -> datetime:
    """When a conversation begins: anywhere in the periods, on their edges, or outside."""
    edges = [NOW - timedelta(days=d) for d in (7, 30, 90)] + [NOW]
    edges += [e + timedelta(microseconds=s) for e in edges for s in (-1, 1)]
    if rng.random() < 0.25:
        return rng.choice(edges)
    if rng.random() < 0.15:  # unanswered for exactly the target, give or take a microsecond
        target = NOW - timedelta(hours=rng.choice((24, 48)))
        return target + timedelta(microseconds=rng.choice((-1, 0, 0, 1)))
    return NOW - timedelta(seconds=rng.uniform(-2 * 86400, 100 * 86400))


def _history(rng: random.Random, channels: list[Channel]) -> tuple[list[Row], list[Event]]:
    rows: list[Row] = []
    marks: list[Event] = []
    for _ in range(80):
        channel = rng.choice(channels)
        conv = Conversation.objects.create(
            shop_id=channel.shop_id, channel=channel, created_at=NOW - timedelta(days=200)
        )
        target = timedelta(hours=rng.choice((24, 48)))
        at = _start(rng)
        for _ in range(rng.randint(1, 6)):
            kind = rng.choices(("in", "out", "note", "mark"), weights=(4, 4, 1, 1))[0]
            if kind == "mark":
                marks.append(
                    Event(conversation=conv, kind=EventKind.NO_RESPONSE_NEEDED, created_at=at)
                )
            else:
                # A merged conversation can hold a reply written on another channel.
                on = rng.choice(channels) if rng.random() < 0.05 else channel
                rows.append(
                    Row(
                        conv.pk,
                        on.pk,
                        {"in": Direction.IN, "out": Direction.OUT, "note": Direction.NOTE}[kind],
                        rng.random() < 0.2,
                        rng.choice(STATES) if kind == "out" else DeliveryState.NONE,
                        at,
                    )
                )
            at = _moment(rng, at, target)
        if rng.random() < 0.1:  # someone else's event, on the same conversation
            marks.append(Event(conversation=conv, kind=EventKind.REOPENED, created_at=at))
    Message.objects.bulk_create(
        Message(
            conversation_id=r.conversation,
            channel_id=r.channel,
            direction=r.direction,
            is_auto=r.auto,
            delivery_state=r.state,
            created_at=r.at,
            received_at=r.at,
        )
        for r in rows
    )
    Event.objects.bulk_create(marks)
    return rows, marks


def _recount(
    channel: Channel, rows: list[Row], marks: list[Event]
) -> list[tuple[int, int, int, int, int]]:
    """The rules of `sla.metrics`, read literally, one buyer message at a time."""
    policy = policies.policy_for(channel.pk)
    own = channel.marketplace == "shop"
    target = (
        policy.first_response
        if own
        else metrics.RULES.get(channel.marketplace, metrics.MIRAKL_RULE).target
    )

    def elapsed(start: datetime, end: datetime) -> timedelta:
        if own and policy.business_hours:
            return businesstime.elapsed(policy.calendar, start, end)
        return end - start

    tallies = {d: {"late": 0, "on_time": 0, "pending": 0, "excluded": 0} for d in metrics.PERIODS}
    for asked in rows:
        if asked.channel != channel.pk or asked.direction != Direction.IN or asked.auto:
            continue
        if not NOW - timedelta(days=90) <= asked.at <= NOW:
            continue
        answers = [
            r.at
            for r in rows
            if r.conversation == asked.conversation
            and r.direction == Direction.OUT
            and not r.auto
            and r.state not in (DeliveryState.FAILED, DeliveryState.REPLACED)
            and r.at >= asked.at
        ]
        marked_at = [
            e.created_at
            for e in marks
            if e.conversation_id == asked.conversation
            and e.kind == EventKind.NO_RESPONSE_NEEDED
            and e.created_at >= asked.at
        ]
        answered = min(answers, default=None)
        marked = min(marked_at, default=None)
        if marked is not None and (answered is None or marked < answered):
            verdict = "excluded"
        elif answered is not None:
            verdict = "late" if elapsed(asked.at, answered) > target else "on_time"
        else:
            verdict = "late" if elapsed(asked.at, NOW) > target else "pending"
        for days in metrics.PERIODS:
            if asked.at >= NOW - timedelta(days=days):
                tallies[days][verdict] += 1
    return [(d, t["late"], t["on_time"], t["pending"], t["excluded"]) for d, t in tallies.items()]


@pytest.mark.parametrize("seed", range(6))
def test_the_rates_match_a_plain_recount_of_the_rules(shop: Shop, seed: int) -> None:
    rng = random.Random(seed)
    channels = [
        Channel.objects.create(shop=shop, kind="api", marketplace=m, name=m) for m in MARKETPLACES
    ]
    rows, marks = _history(rng, channels)

    with CaptureQueriesContext(connection) as queries:
        rates = metrics.all_rates(Channel.objects.order_by("pk"), now=NOW)

    assert [r.channel_id for r in rates] == [c.pk for c in channels]
    for channel, rate in zip(channels, rates, strict=True):
        got = [(p.days, p.late, p.on_time, p.pending, p.excluded) for p in rate.periods]
        assert got == _recount(channel, rows, marks), channel.marketplace
    assert sum(p.counted + p.pending + p.excluded for r in rates for p in r.periods) > 0
    # 24 h and 48 h channels in one query each, the own shop's mail on its own.
    assert len([q for q in queries if "no_response_needed" in q["sql"]]) == 3


def test_a_channel_alone_counts_as_among_all(shop: Shop) -> None:
    rng = random.Random(99)
    channels = [
        Channel.objects.create(shop=shop, kind="api", marketplace=m, name=m) for m in MARKETPLACES
    ]
    _history(rng, channels)
    together = metrics.all_rates(channels, now=NOW)
    assert [metrics.late_response_rates(c, now=NOW) for c in channels] == together


@pytest.mark.parametrize("seed", range(4))
def test_the_rates_on_analytics_facts_match_the_recount_and_the_raw_count(
    shop: Shop, seed: int
) -> None:
    from comptoir.analytics import facts, late_rates

    rng = random.Random(100 + seed)
    channels = [
        Channel.objects.create(shop=shop, kind="api", marketplace=m, name=m) for m in MARKETPLACES
    ]
    rows, marks = _history(rng, channels)
    facts.rebuild(NOW)

    with CaptureQueriesContext(connection) as queries:
        rates = metrics.all_rates(Channel.objects.order_by("pk"), now=NOW, source=late_rates.FACTS)

    for channel, rate in zip(channels, rates, strict=True):
        got = [(p.days, p.late, p.on_time, p.pending, p.excluded) for p in rate.periods]
        assert got == _recount(channel, rows, marks), channel.marketplace
    assert rates == metrics.all_rates(Channel.objects.order_by("pk"), now=NOW)
    # No look-up on the raw messages or events: the facts hold each message's answer and mark.
    assert not [q for q in queries if "inbox_message" in q["sql"] or "inbox_event" in q["sql"]]
    assert sum(p.counted + p.excluded for r in rates for p in r.periods) > 0


def test_the_facts_filled_in_one_statement_are_those_the_refresh_computes(shop: Shop) -> None:
    from comptoir.analytics import facts, late_rates
    from comptoir.analytics.models import BuyerMessageFact

    rng = random.Random(7)
    channels = [
        Channel.objects.create(shop=shop, kind="api", marketplace=m, name=m) for m in MARKETPLACES
    ]
    _history(rng, channels)
    facts.rebuild(NOW)
    fields = ("message_id", "conversation_id", "channel_id", "received_at", "answered_at")
    refreshed = list(BuyerMessageFact.objects.order_by("pk").values_list(*fields, "marked_at"))
    assert any(r[-1] for r in refreshed)  # some marked
    assert any(r[-2] for r in refreshed)  # some answered

    assert late_rates.fill_from_messages() == len(refreshed)
    assert list(BuyerMessageFact.objects.order_by("pk").values_list(*fields, "marked_at")) == (
        refreshed
    )
    # The upgrade's own statement, frozen in the migration, fills the same facts.
    migration = importlib.import_module("comptoir.analytics.migrations.0005_buyer_message_facts")
    BuyerMessageFact.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(migration.FILL_SQL)
    assert list(BuyerMessageFact.objects.order_by("pk").values_list(*fields, "marked_at")) == (
        refreshed
    )
