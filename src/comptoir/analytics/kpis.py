"""The KPIs, one function each: `kpi(period, filters)`. Definitions in docs/metrics.md.

All read the rollup (`analytics.models`, kept by `analytics.facts`) except
`marketplace_late_rates` (the SLA app's own count over raw messages) and the order count of
`conversations_per_100_orders`. Conversations are placed in a period by their creation, waits
by their buyer message.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncDate

from comptoir.analytics.models import ConversationFact, ResponseFact
from comptoir.analytics.period import Durations, Filters, Period, ResponseTimes, Share
from comptoir.analytics.stats import durations, durations_pair
from comptoir.inbox.models import Channel
from comptoir.orders.models import Order
from comptoir.sla import metrics
from comptoir.surveys import metrics as survey_metrics

VOLUME_FIELDS = ("channel_id", "marketplace", "shop_id", "intent", "language")
# Resolved at least once: resolved now, or reopened (the rollup keeps the last resolution only).
RESOLVED_ONCE = Q(resolved_at__isnull=False) | Q(reopened=True)
# Who is in the first-contact resolution's denominator (an FCR reopened after 7 days included).
FCR_WHOLE = Q(agent_replies__gt=0) & (RESOLVED_ONCE | Q(fcr=True))


def _facts(period: Period, filters: Filters) -> Any:
    return ConversationFact.objects.filter(
        filters.q(), created_at__gte=period.start, created_at__lt=period.end
    )


def facts_in(period: Period, filters: Filters) -> Any:
    """The conversations' facts of the period (for the dashboards' own groupings)."""
    return _facts(period, filters)


def _waits(period: Period, filters: Filters, *, first: bool) -> Any:
    return ResponseFact.objects.filter(
        filters.q(), first=first, received_at__gte=period.start, received_at__lt=period.end
    )


def _response_times(rows: Any) -> ResponseTimes:
    calendar, business = durations_pair(rows, "seconds", "business_seconds")
    return ResponseTimes(calendar=calendar, business=business)


def first_response_time(period: Period, filters: Filters) -> ResponseTimes:
    """From the buyer's first message to the first reply (facts: ResponseFact, first)."""
    return _response_times(_waits(period, filters, first=True))


def next_response_time(period: Period, filters: Filters) -> ResponseTimes:
    """From each later buyer message that found no wait open to the next reply."""
    return _response_times(_waits(period, filters, first=False))


def within_sla(period: Period, filters: Filters) -> Share:
    """First responses within the channel's respond-by, among those decided."""
    counts = _facts(period, filters).aggregate(
        part=Count("pk", filter=Q(within_sla=True)),
        whole=Count("pk", filter=Q(within_sla__isnull=False)),
    )
    return Share(counts["part"], counts["whole"])


def marketplace_late_rates(period: Period, filters: Filters) -> list[metrics.ChannelRates]:
    """Each channel's late-response rate as its marketplace counts it (7, 30, 90 days to the
    period's end), computed by `sla.metrics` on the raw messages."""
    channels = Channel.objects.order_by("pk")
    for name, field in (("shop_id", "shop_id"), ("channel_id", "pk"), ("team_id", "team_id")):
        if getattr(filters, name) is not None:
            channels = channels.filter(**{field: getattr(filters, name)})
    if filters.marketplace is not None:
        channels = channels.filter(marketplace=filters.marketplace)
    return metrics.all_rates(channels, now=period.end)


def resolution_time(period: Period, filters: Filters) -> Durations:
    """From the first buyer message (or creation) to the resolution, of resolved conversations
    (calendar hours)."""
    return durations(_facts(period, filters), "resolution_seconds")


def first_contact_resolution(period: Period, filters: Filters) -> Share:
    """Resolved after exactly one reply and not reopened within 7 days, among conversations
    that were resolved with at least one reply."""
    counts = _facts(period, filters).aggregate(
        part=Count("pk", filter=Q(fcr=True)),
        whole=Count(
            "pk",
            filter=FCR_WHOLE,
        ),
    )
    return Share(counts["part"], counts["whole"])


def reopen_rate(period: Period, filters: Filters) -> Share:
    """Conversations reopened at least once, among those resolved at least once."""
    counts = _facts(period, filters).aggregate(
        part=Count("pk", filter=Q(reopened=True)),
        whole=Count("pk", filter=RESOLVED_ONCE),
    )
    return Share(counts["part"], counts["whole"])


def messages_per_conversation(period: Period, filters: Filters) -> float | None:
    """Mean number of messages (buyer, replies, notes, automatic) per conversation."""
    value: float | None = _facts(period, filters).aggregate(v=Avg("message_count"))["v"]
    return value


def no_response_needed_share(period: Period, filters: Filters) -> Share:
    """Conversations an agent marked as needing no response, among all."""
    counts = _facts(period, filters).aggregate(
        part=Count("pk", filter=Q(no_response_needed=True)), whole=Count("pk")
    )
    return Share(counts["part"], counts["whole"])


def volume(period: Period, filters: Filters, by: str) -> dict[Any, int]:
    """Conversations created, by one of VOLUME_FIELDS (largest first)."""
    if by not in VOLUME_FIELDS:
        raise ValueError(f"volume by {by!r}: use one of {', '.join(VOLUME_FIELDS)}")
    rows = _facts(period, filters).values(by).annotate(n=Count("pk")).order_by("-n", by)
    return {row[by]: row["n"] for row in rows}


def heatmap(period: Period, filters: Filters) -> list[list[int]]:
    """Conversations created per weekday (Monday first) by hour of day, in the shop's time."""
    grid = [[0] * 24 for _ in range(7)]
    rows = (
        _facts(period, filters).values_list("local_weekday", "local_hour").annotate(n=Count("pk"))
    )
    for weekday, hour, n in rows:
        grid[weekday][hour] = n
    return grid


def backlog(period: Period, filters: Filters) -> list[tuple[date, int]]:
    """Conversations open at the end of each day (UTC) of the period: created by then and not
    resolved by then (a conversation resolved now counts as open until its last resolution)."""
    facts = ConversationFact.objects.filter(filters.q())
    start_day = period.start.astimezone(UTC).date()
    end_day = period.end.astimezone(UTC).date()
    first_end = datetime.combine(start_day, datetime.min.time(), UTC) + timedelta(days=1)
    open_count = facts.filter(created_at__lt=first_end).exclude(resolved_at__lt=first_end).count()
    later = facts.filter(created_at__gte=first_end)
    created = _per_day(later, "created_at")
    resolved = _per_day(facts.filter(resolved_at__gte=first_end), "resolved_at")
    out = [(start_day, open_count)]
    day = start_day
    while day < end_day:
        day += timedelta(days=1)
        open_count += created.get(day, 0) - resolved.get(day, 0)
        out.append((day, open_count))
    return out


def _per_day(rows: Any, field: str) -> dict[date, int]:
    counted = rows.annotate(day=TruncDate(field, tzinfo=UTC)).values("day")
    return {r["day"]: r["n"] for r in counted.annotate(n=Count("pk")).order_by()}


def conversations_per_100_orders(period: Period, filters: Filters) -> float | None:
    """Conversations created per 100 orders placed in the period (None without orders)."""
    orders = Order.objects.filter(ordered_at__gte=period.start, ordered_at__lt=period.end)
    if filters.shop_id is not None:
        orders = orders.filter(shop_id=filters.shop_id)
    if filters.channel_id is not None:
        orders = orders.filter(channel_id=filters.channel_id)
    if filters.marketplace is not None:
        orders = orders.filter(channel__marketplace=filters.marketplace)
    if filters.team_id is not None:
        orders = orders.filter(channel__team_id=filters.team_id)
    n_orders = orders.count()
    return _facts(period, filters).count() * 100 / n_orders if n_orders else None


@dataclass(frozen=True)
class PersonRow:
    """One agent's (or team's) figures: conversations handled (assigned), created in the
    period; their first response and resolution times; their first-contact resolution."""

    id: int | None
    handled: int
    first_response: Durations
    resolution: Durations
    fcr: Share


def per_agent(period: Period, filters: Filters) -> list[PersonRow]:
    """Per assignee (None: unassigned)."""
    return _per(period, filters, "assignee_id")


def per_team(period: Period, filters: Filters) -> list[PersonRow]:
    """Per team (None: no team)."""
    return _per(period, filters, "team_id")


def _per(period: Period, filters: Filters, key: str) -> list[PersonRow]:
    rows = _facts(period, filters).values_list(
        key,
        "first_response_seconds",
        "resolution_seconds",
        "fcr",
        "agent_replies",
        "resolved_at",
        "reopened",
    )
    first: dict[Any, list[float]] = defaultdict(list)
    resolution: dict[Any, list[float]] = defaultdict(list)
    handled: Counter[Any] = Counter()
    fcr: Counter[Any] = Counter()
    resolved: Counter[Any] = Counter()
    for who, frs, res, is_fcr, replies, resolved_at, reopened in rows:
        handled[who] += 1
        if frs is not None:
            first[who].append(frs)
        if res is not None:
            resolution[who].append(res)
        fcr[who] += is_fcr
        # The same denominator as FCR_WHOLE.
        resolved[who] += bool(replies and (resolved_at is not None or reopened or is_fcr))
    return [
        PersonRow(
            id=who,
            handled=handled[who],
            first_response=Durations.of_seconds(first[who]),
            resolution=Durations.of_seconds(resolution[who]),
            fcr=Share(fcr[who], resolved[who]),
        )
        for who in sorted(handled, key=lambda w: (-handled[w], w or 0))
    ]


# -- the overview and the per-channel table: several KPIs in few queries ----------------------


def _counts() -> dict[str, Any]:
    return {
        "n": Count("pk"),
        "sla_part": Count("pk", filter=Q(within_sla=True)),
        "sla_whole": Count("pk", filter=Q(within_sla__isnull=False)),
        "fcr_part": Count("pk", filter=Q(fcr=True)),
        "fcr_whole": Count("pk", filter=FCR_WHOLE),
        "reopen_part": Count("pk", filter=Q(reopened=True)),
        "reopen_whole": Count("pk", filter=RESOLVED_ONCE),
        "nrn": Count("pk", filter=Q(no_response_needed=True)),
        "messages": Avg("message_count"),
    }


@dataclass(frozen=True)
class Overview:
    """The headline figures of a period (each as its own function computes it)."""

    conversations: int
    first_response: ResponseTimes
    next_response: ResponseTimes
    within_sla: Share
    resolution: Durations
    fcr: Share
    reopen: Share
    messages_per_conversation: float | None
    no_response_needed: Share


def overview(period: Period, filters: Filters) -> Overview:
    c = _facts(period, filters).aggregate(**_counts())
    return Overview(
        conversations=c["n"],
        first_response=first_response_time(period, filters),
        next_response=next_response_time(period, filters),
        within_sla=Share(c["sla_part"], c["sla_whole"]),
        resolution=resolution_time(period, filters),
        fcr=Share(c["fcr_part"], c["fcr_whole"]),
        reopen=Share(c["reopen_part"], c["reopen_whole"]),
        messages_per_conversation=c["messages"],
        no_response_needed=Share(c["nrn"], c["n"]),
    )


@dataclass(frozen=True)
class ChannelRow:
    channel_id: int
    conversations: int
    first_response: Durations  # calendar hours
    within_sla: Share
    fcr: Share
    reopen: Share


def per_channel(period: Period, filters: Filters) -> list[ChannelRow]:
    """One row per channel with conversations in the period, busiest first."""
    groups = _facts(period, filters).values("channel_id").annotate(**_counts()).order_by("-n")
    return [
        ChannelRow(
            channel_id=g["channel_id"],
            conversations=g["n"],
            first_response=durations(
                _waits(period, replace(filters, channel_id=g["channel_id"]), first=True),
                "seconds",
            ),
            within_sla=Share(g["sla_part"], g["sla_whole"]),
            fcr=Share(g["fcr_part"], g["fcr_whole"]),
            reopen=Share(g["reopen_part"], g["reopen_whole"]),
        )
        for g in groups
    ]


# -- hooks filled by other apps ----------------------------------------------------------------


def _survey_filters(filters: Filters) -> dict[str, Any]:
    """The analytics filters as the surveys' conversation lookups."""
    names = {
        "shop_id": "conversation__shop_id",
        "channel_id": "conversation__channel_id",
        "team_id": "conversation__team_id",
        "marketplace": "conversation__channel__marketplace",
        "assignee_id": "conversation__assignee_id",
    }
    return {
        lookup: getattr(filters, name)
        for name, lookup in names.items()
        if getattr(filters, name) is not None
    }


def csat(period: Period, filters: Filters) -> float | None:
    """Customer satisfaction: the share (0-100) of CSAT answers scoring 4 or 5, for the
    surveys sent in the period (`surveys.metrics.csat`); None without answers."""
    return survey_metrics.csat(None, start=period.start, end=period.end, **_survey_filters(filters))


def nps(period: Period, filters: Filters) -> float | None:
    """Net promoter score: promoters (9-10) minus detractors (0-6), -100 to 100, for the
    surveys sent in the period (`surveys.metrics.nps`); None without answers."""
    return survey_metrics.nps(None, start=period.start, end=period.end, **_survey_filters(filters))


def survey_response_rate(period: Period, filters: Filters) -> float | None:
    """The share (0-100) of the surveys sent in the period that were answered."""
    return survey_metrics.response_rate(
        None, start=period.start, end=period.end, **_survey_filters(filters)
    )


def survey_counts(period: Period, filters: Filters) -> tuple[int, int]:
    """Surveys sent in the period, and how many of them were answered."""
    return survey_metrics.counts(
        None, start=period.start, end=period.end, **_survey_filters(filters)
    )


def disputes(period: Period, filters: Filters) -> int | None:
    """Marketplace disputes (A-to-z claims, eBay cases) opened: filled by the disputes work
    (not built yet); None until then."""
    return None
