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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone

from comptoir.inbox.models import Channel, DeliveryState, Direction, Event, EventKind, Message
from comptoir.lib import businesstime
from comptoir.sla.policies import policy_for

PERIODS = (7, 30, 90)


@dataclass(frozen=True)
class MarketplaceRule:
    label: str
    target: timedelta


H24, H48 = timedelta(hours=24), timedelta(hours=48)
RULES: dict[str, MarketplaceRule] = {
    "amazon": MarketplaceRule("Amazon: responses under 24 hours", H24),
    "cdiscount": MarketplaceRule("Cdiscount: responses under 48 hours", H48),
    "fnac": MarketplaceRule("Fnac: responses under 48 hours", H48),
    "ebay": MarketplaceRule("eBay: responses under 24 hours", H24),
    "rakuten": MarketplaceRule("Rakuten: responses under 24 hours", H24),
}
MIRAKL_RULE = MarketplaceRule("Marketplace: responses under 24 hours", H24)


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
    now = now or timezone.now()
    rule = RULES.get(channel.marketplace)
    business: businesstime.Calendar | None = None
    if rule is None and channel.marketplace in ("shop", "other"):
        policy = policy_for(channel.pk)
        rule = MarketplaceRule("Own shop: the channel's policy", policy.first_response)
        business = policy.calendar if policy.business_hours else None
    rule = rule or MIRAKL_RULE
    rows = _messages(channel.pk, now)
    if business is None:
        periods = _count_in_sql(rows, rule.target, now)
    else:
        periods = _count_in_python(rows, rule.target, business, now)
    return ChannelRates(
        channel_id=channel.pk,
        channel_name=channel.name,
        marketplace=channel.marketplace,
        rule=rule.label,
        target_hours=rule.target.total_seconds() / 3600,
        business_hours=business is not None,
        periods=periods,
    )


def _messages(channel_id: int, now: datetime) -> Any:
    """Buyer messages of the longest period, each with its first answer and the first time it
    was marked as needing none."""
    answers = (
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
    marked = (
        Event.objects.filter(
            conversation_id=OuterRef("conversation_id"),
            kind=EventKind.NO_RESPONSE_NEEDED,
            created_at__gte=OuterRef("created_at"),
        )
        .order_by("created_at")
        .values("created_at")[:1]
    )
    return Message.objects.filter(
        channel_id=channel_id,
        direction=Direction.IN,
        is_auto=False,
        created_at__gte=now - timedelta(days=max(PERIODS)),
        created_at__lte=now,
    ).annotate(answered_at=Subquery(answers), marked_at=Subquery(marked))


def _count_in_sql(rows: Any, target: timedelta, now: datetime) -> list[Rate]:
    excluded = Q(marked_at__isnull=False) & (
        Q(answered_at__isnull=True) | Q(marked_at__lt=F("answered_at"))
    )
    unanswered = Q(answered_at__isnull=True)
    late = ~excluded & (
        Q(answered_at__gt=F("created_at") + target) | (unanswered & Q(created_at__lt=now - target))
    )
    on_time = ~excluded & Q(answered_at__lte=F("created_at") + target)
    pending = ~excluded & unanswered & Q(created_at__gte=now - target)
    aggregates: dict[str, Any] = {}
    for days in PERIODS:
        since = Q(created_at__gte=now - timedelta(days=days))
        for name, cond in (
            ("late", late),
            ("on_time", on_time),
            ("pending", pending),
            ("excluded", excluded),
        ):
            aggregates[f"{name}_{days}"] = Count("id", filter=since & cond)
    counts = rows.aggregate(**aggregates)
    return [
        Rate(
            days=days,
            late=counts[f"late_{days}"],
            on_time=counts[f"on_time_{days}"],
            pending=counts[f"pending_{days}"],
            excluded=counts[f"excluded_{days}"],
        )
        for days in PERIODS
    ]


def _count_in_python(
    rows: Any, target: timedelta, calendar: businesstime.Calendar, now: datetime
) -> list[Rate]:
    """Business hours cannot be counted in SQL: the rows come back (one channel's own mail,
    a modest number) and each delay is measured on the calendar."""
    tallies = {days: {"late": 0, "on_time": 0, "pending": 0, "excluded": 0} for days in PERIODS}
    for created, answered, marked in rows.values_list("created_at", "answered_at", "marked_at"):
        if marked is not None and (answered is None or marked < answered):
            verdict = "excluded"
        elif answered is not None:
            late = businesstime.elapsed(calendar, created, answered) > target
            verdict = "late" if late else "on_time"
        elif businesstime.elapsed(calendar, created, now) > target:
            verdict = "late"
        else:
            verdict = "pending"
        for days in PERIODS:
            if created >= now - timedelta(days=days):
                tallies[days][verdict] += 1
    return [Rate(days=days, **tallies[days]) for days in PERIODS]


def all_rates(channels: Any, now: datetime | None = None) -> list[ChannelRates]:
    now = now or timezone.now()
    return [late_response_rates(channel, now) for channel in channels]
