"""The late-response rate each marketplace computes, over 7, 30 and 90 days per channel.

A seller is rated on the marketplace's number, not on Comptoir's own deadlines (which an owner
may set stricter), so the count follows the marketplace's rule as published, read this way:

- **Amazon** ("Response time under 24 hours", Account Health / Customer Service Performance):
  every buyer message that needs a response counts once; it is late when the seller's first
  response after it came more than 24 hours later, weekends and holidays included, or has not
  come and 24 hours have passed. Messages the seller marked "no response needed" (before
  answering) are left out. Auto-replies are not responses. The rate is late / counted.
- **Cdiscount** and **Fnac**: the same count with 48 hours (calendar hours: neither says
  "business hours" in its seller rules, and the stricter reading never flatters the seller).
- **Mirakl operators** (Darty, Boulanger, Conforama, Leroy Merlin, Carrefour), **eBay** and
  **Rakuten**: 24 hours, calendar, per message.
- **The shop's own email** has no marketplace: the channel's own policy (24 business hours by
  default) is the rule, counted in the policy's business hours.

What is not decided yet (unanswered, and still inside its window) is "pending", counted in
neither side of the rate. A conversation resolved without an answer stays late: resolving does
not tell the marketplace anything. Messages are placed in a period by when they arrived.

Speed (`bench/late_rates.py -n 100000`: 292,615 messages, 2 shared cores, load 7 to 8): `all_rates`
took 9.0 s (1.35 s CPU) on SQLite and 56.8 s on PostgreSQL, where each channel's query inlined the
two per-message subqueries into its twelve counts (60 subplans) and spent 11.5 s JIT-compiling
them; now 0.78 s (0.33 s CPU) on SQLite and 0.37 s on PostgreSQL (0.14 s server time for the
24-hour channels' one query), with the same counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.db import connection
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext_noop

from comptoir.inbox.models import Channel, DeliveryState, Direction, Event, EventKind, Message
from comptoir.lib import businesstime
from comptoir.sla.policies import policy_for

PERIODS = (7, 30, 90)


@dataclass(frozen=True)
class MarketplaceRule:
    # English in the data and the API; the page translates it (`{% translate r.rule %}`).
    label: str
    target: timedelta


H24, H48 = timedelta(hours=24), timedelta(hours=48)
RULES: dict[str, MarketplaceRule] = {
    "amazon": MarketplaceRule(gettext_noop("Amazon: responses under 24 hours"), H24),
    "cdiscount": MarketplaceRule(gettext_noop("Cdiscount: responses under 48 hours"), H48),
    "fnac": MarketplaceRule(gettext_noop("Fnac: responses under 48 hours"), H48),
    "ebay": MarketplaceRule(gettext_noop("eBay: responses under 24 hours"), H24),
    "rakuten": MarketplaceRule(gettext_noop("Rakuten: responses under 24 hours"), H24),
}
MIRAKL_RULE = MarketplaceRule(gettext_noop("Marketplace: responses under 24 hours"), H24)


@dataclass(frozen=True)
class Rate:
    days: int
    late: int
    on_time: int
    pending: int
    excluded: int  # marked "no response needed"

    @property
    def counted(self) -> int:
        return self.late + self.on_time

    @property
    def rate(self) -> float | None:
        """Late share (0..1); None when nothing was counted."""
        return self.late / self.counted if self.counted else None


@dataclass(frozen=True)
class ChannelRates:
    channel_id: int
    channel_name: str
    marketplace: str
    rule: str
    target_hours: float
    business_hours: bool
    periods: list[Rate]


def late_response_rates(channel: Channel, now: datetime | None = None) -> ChannelRates:
    """The channel's late-response rate over 7, 30 and 90 days, as its marketplace counts."""
    return all_rates([channel], now)[0]


class Source(Protocol):
    """Where the buyer messages come from, each with its first answer and first "no response
    needed" mark at or after it: the raw messages (`RAW`, always current) or analytics' facts
    (`analytics.late_rates`, kept by the worker, much faster on a long history)."""

    def asked_sql(self, channel_ids: list[int], now: datetime) -> tuple[str, list[Any]]:
        """SQL giving `channel_id, created_at, answered_at, marked_at` per buyer message of
        the longest period."""
        ...

    def rows(self, channel_id: int, now: datetime) -> Iterable[tuple[datetime, Any, Any]]:
        """One channel's `(created_at, answered_at, marked_at)`, the same messages."""
        ...


class RawMessages:
    def asked_sql(self, channel_ids: list[int], now: datetime) -> tuple[str, list[Any]]:
        return _messages_sql(channel_ids, now)

    def rows(self, channel_id: int, now: datetime) -> Iterable[tuple[datetime, Any, Any]]:
        return _messages(channel_id, now).values_list("created_at", "answered_at", "marked_at")


RAW = RawMessages()


def all_rates(
    channels: Iterable[Channel], now: datetime | None = None, source: Source = RAW
) -> list[ChannelRates]:
    """Each channel's rates, in the order given. The channels counted in calendar hours are
    counted in SQL, one query per target (24 h, 48 h); those in business hours in Python."""
    now = now or timezone.now()
    chosen = [(channel, *_rule(channel)) for channel in channels]
    by_target: dict[timedelta, list[int]] = defaultdict(list)
    for channel, rule, business in chosen:
        if business is None:
            by_target[rule.target].append(channel.pk)
    counted: dict[int, list[Rate]] = {}
    for target, ids in by_target.items():
        counted.update(_count_in_sql(source, ids, target, now))
    out = []
    for channel, rule, business in chosen:
        if business is None:
            periods = counted[channel.pk]
        else:
            periods = _count_in_python(source.rows(channel.pk, now), rule.target, business, now)
        out.append(
            ChannelRates(
                channel_id=channel.pk,
                channel_name=channel.name,
                marketplace=channel.marketplace,
                rule=rule.label,
                target_hours=rule.target.total_seconds() / 3600,
                business_hours=business is not None,
                periods=periods,
            )
        )
    return out


def _rule(channel: Channel) -> tuple[MarketplaceRule, businesstime.Calendar | None]:
    rule = RULES.get(channel.marketplace)
    if rule is None and channel.marketplace in ("shop", "other"):
        policy = policy_for(channel.pk)
        own = MarketplaceRule(gettext_noop("Own shop: the channel's policy"), policy.first_response)
        return own, policy.calendar if policy.business_hours else None
    return rule or MIRAKL_RULE, None


def answers() -> Any:
    """The first answer to the buyer message of the outer query: the seller's first reply at
    or after it (not an auto-reply, nor one that failed or was replaced)."""
    return (
        Message.objects.filter(
            conversation_id=OuterRef("conversation_id"),
            direction=Direction.OUT,
            is_auto=False,
            created_at__gte=OuterRef("created_at"),
        )
        .exclude(delivery_state__in=[DeliveryState.FAILED, DeliveryState.REPLACED])
        .order_by("created_at")
        .values("created_at")[:1]
    )


def marks() -> Any:
    """The first time the conversation was marked as needing no response, at or after it."""
    return (
        Event.objects.filter(
            conversation_id=OuterRef("conversation_id"),
            kind=EventKind.NO_RESPONSE_NEEDED,
            created_at__gte=OuterRef("created_at"),
        )
        .order_by("created_at")
        .values("created_at")[:1]
    )


def _buyer_messages(channel_ids: list[int], now: datetime) -> Any:
    """Buyer messages of the longest period (auto-messages are not the buyer's)."""
    return Message.objects.filter(
        channel_id__in=channel_ids,
        direction=Direction.IN,
        is_auto=False,
        created_at__gte=now - timedelta(days=max(PERIODS)),
        created_at__lte=now,
    )


def _messages(channel_id: int, now: datetime) -> Any:
    """Buyer messages of the longest period, each with its first answer and the first time it
    was marked as needing none."""
    return _buyer_messages([channel_id], now).annotate(
        answered_at=Subquery(answers()), marked_at=Subquery(marks())
    )


def _count_in_sql(
    source: Source, channel_ids: list[int], target: timedelta, now: datetime
) -> dict[int, list[Rate]]:
    """All twelve counts of every channel in one pass: each buyer message's first answer and
    first mark are looked up once (in a materialised CTE: inlined, as the planners do with a
    subquery, they were evaluated again for each count that names them, up to 60 times a
    message), judged once, and the verdicts counted per channel and period."""
    ops = connection.ops
    asked, params = source.asked_sql(channel_ids, now)
    if connection.vendor == "postgresql":
        due = "created_at + %s"
        due_params: list[Any] = [target]
    else:
        # SQLite keeps "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC): the whole seconds are moved on and
        # the fraction put back as it was, so the deadline is exact to the microsecond (a
        # Python function per row, as the ORM's `F() + timedelta` is there, would be slower).
        due = (
            "strftime('%%Y-%%m-%%d %%H:%%M:%%S', substr(created_at, 1, 19), %s)"
            " || substr(created_at, 20)"
        )
        due_params = [f"+{int(target.total_seconds())} seconds"]
    since = [ops.adapt_datetimefield_value(now - timedelta(days=d)) for d in PERIODS]
    per_period = ", ".join("SUM(CASE WHEN created_at >= %s THEN 1 ELSE 0 END)" for _ in PERIODS)
    sql = f"""
        WITH asked AS MATERIALIZED ({asked}),
        judged AS (
            SELECT channel_id, created_at, CASE
                WHEN marked_at IS NOT NULL AND (answered_at IS NULL OR marked_at < answered_at)
                    THEN 'excluded'
                WHEN answered_at IS NOT NULL
                    THEN CASE WHEN answered_at > {due} THEN 'late' ELSE 'on_time' END
                WHEN created_at < %s THEN 'late'
                ELSE 'pending'
            END AS verdict
            FROM asked
        )
        SELECT channel_id, verdict, {per_period}
        FROM judged GROUP BY channel_id, verdict
    """
    tallies = {
        pk: {days: dict.fromkeys(("late", "on_time", "pending", "excluded"), 0) for days in PERIODS}
        for pk in channel_ids
    }
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [*params, *due_params, ops.adapt_datetimefield_value(now - target), *since]
        )
        for channel_id, verdict, *counts in cursor.fetchall():
            for days, count in zip(PERIODS, counts, strict=True):
                tallies[channel_id][days][verdict] = int(count)
    return {pk: [Rate(days=days, **tallies[pk][days]) for days in PERIODS] for pk in channel_ids}


def _count_in_python(
    rows: Iterable[tuple[datetime, Any, Any]],
    target: timedelta,
    calendar: businesstime.Calendar,
    now: datetime,
) -> list[Rate]:
    """Business hours cannot be counted in SQL: the rows come back (one channel's own mail,
    a modest number) and each delay is measured on the calendar."""
    tallies = {days: {"late": 0, "on_time": 0, "pending": 0, "excluded": 0} for days in PERIODS}
    clock = businesstime.Clock(calendar, now - timedelta(days=max(PERIODS) + 1), now)
    for created, answered, marked in rows:
        if marked is not None and (answered is None or marked < answered):
            verdict = "excluded"
        elif answered is not None:
            late = clock.elapsed(created, answered) > target
            verdict = "late" if late else "on_time"
        elif clock.elapsed(created, now) > target:
            verdict = "late"
        else:
            verdict = "pending"
        for days in PERIODS:
            if created >= now - timedelta(days=days):
                tallies[days][verdict] += 1
    return [Rate(days=days, **tallies[days]) for days in PERIODS]


def _messages_sql(channel_ids: list[int], now: datetime) -> tuple[str, list[Any]]:
    """The buyer messages with their first answer and first mark, as SQL (the ORM's, so that
    the rules are written once for both counts)."""
    qs = _buyer_messages(channel_ids, now).values(
        "channel_id", "created_at", answered_at=Subquery(answers()), marked_at=Subquery(marks())
    )
    sql, params = qs.query.sql_with_params()
    return sql, list(params)
