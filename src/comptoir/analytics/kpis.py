"""The KPIs, one function each: `kpi(period, filters)`. Definitions in docs/metrics.md.

All read the facts (`analytics.models`, kept by `analytics.facts`) except
`marketplace_late_rates` (the SLA app's own count over raw messages) and the order count of
`conversations_per_100_orders`. Conversations are placed in a period by their creation, waits
by their buyer message.

Counts, shares, means and volumes read the daily rollup (`analytics.rollup`) for the whole
days of the period and the facts for the ragged edges: exactly the facts' figures, from a few
thousand rows a year. Medians and 90th percentiles are read exactly from the facts when the
period holds at most `EXACT_LIMIT` durations, else from the rollup's histograms
(`analytics.histogram`: within 6 %).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from comptoir.analytics import histogram, kpis_hooks, late_rates, rollup
from comptoir.analytics.models import (
    ConversationDay,
    ConversationFact,
    ResponseFact,
    VolumeDay,
    WaitDay,
)
from comptoir.analytics.period import Durations, Filters, Period, ResponseTimes, Share
from comptoir.analytics.stats import durations, durations_pair
from comptoir.inbox.models import Channel
from comptoir.orders import models as order_models
from comptoir.sla import metrics

VOLUME_FIELDS = ("channel_id", "marketplace", "shop_id", "intent", "language")
# Resolved at least once: resolved now, or reopened (the rollup keeps the last resolution only).
RESOLVED_ONCE = Q(resolved_at__isnull=False) | Q(reopened=True)
# Who is in the first-contact resolution's denominator (an FCR reopened after 7 days included).
FCR_WHOLE = Q(agent_replies__gt=0) & (RESOLVED_ONCE | Q(fcr=True))
# Up to this many durations, medians and percentiles are exact (each duration read from the
# facts, sorted on SQLite); past it they are read from the rollup's histograms, whose cost does
# not grow with the volume. At a million conversations a year, a busy week.
EXACT_LIMIT = 10_000

# The KPIs other apps count (surveys, cases), named here with the others.
csat = kpis_hooks.csat
nps = kpis_hooks.nps
survey_response_rate = kpis_hooks.survey_response_rate
survey_counts = kpis_hooks.survey_counts
disputes = kpis_hooks.disputes
disputes_per_100_orders = kpis_hooks.disputes_per_100_orders


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


# -- sums over a period: the rollup's whole days and the facts' edges --------------------------


def _fact_counts() -> dict[str, Any]:
    """`rollup.COUNTS` but the resolution times, computed on facts."""
    return {
        "conversations": Count("pk"),
        "sla_part": Count("pk", filter=Q(within_sla=True)),
        "sla_whole": Count("pk", filter=Q(within_sla__isnull=False)),
        "fcr_part": Count("pk", filter=Q(fcr=True)),
        "fcr_whole": Count("pk", filter=FCR_WHOLE),
        "reopen_part": Count("pk", filter=Q(reopened=True)),
        "reopen_whole": Count("pk", filter=RESOLVED_ONCE),
        "no_response_needed": Count("pk", filter=Q(no_response_needed=True)),
        "messages": Sum("message_count"),
    }


@dataclass
class _Sums:
    """Sums of a group of conversations or waits, with histograms of their durations."""

    counts: dict[str, float]
    hists: dict[str, list[int]]

    def add(self, row: dict[str, Any], hists: dict[str, tuple[str, ...]]) -> None:
        for name in self.counts:
            self.counts[name] += row.get(name) or 0
        for name, columns in hists.items():
            into = self.hists[name]
            for k, column in enumerate(columns):
                into[k] += row[column] or 0

    def durations(self, count: str, total: str, hist: str) -> Durations:
        n = int(self.counts[count])
        if not n:
            return Durations(0, None, None, None)
        median = histogram.quantile(self.hists[hist], 0.5) or 0.0
        p90 = histogram.quantile(self.hists[hist], 0.9) or 0.0
        mean = self.counts[total] / 1000 / n  # the sums are in milliseconds
        return Durations(n, median / 3600, mean / 3600, p90 / 3600)


def _group(
    out: dict[Any, _Sums], key: Any, counts: tuple[str, ...], hists: tuple[str, ...]
) -> _Sums:
    if key not in out:
        out[key] = _Sums(dict.fromkeys(counts, 0), {h: [0] * histogram.BUCKETS for h in hists})
    return out[key]


def _split(period: Period, filters: Filters, split: Any) -> rollup.Split | None:
    """The split a caller already made (one timezone query per KPI rather than per part)."""
    return rollup.split(period, filters) if split is UNSET else split


UNSET: Any = object()


def _conversations(
    period: Period,
    filters: Filters,
    by: str | None = None,
    *,
    resolution: bool = False,
    split: Any = UNSET,
) -> dict[Any, _Sums]:
    """`rollup.COUNTS` of the conversations created in the period, per value of `by` (one
    group, None, without); with the histogram of resolution times ("r") if asked."""
    out: dict[Any, _Sums] = {}
    hist_columns = {"r": rollup.RESOLUTION} if resolution else {}
    split = _split(period, filters, split)
    if split is not None:
        fields = rollup.COUNTS + (rollup.RESOLUTION if resolution else ())
        for key, row in rollup.sums(ConversationDay, split, filters, by, fields).items():
            _group(out, key, rollup.COUNTS, tuple(hist_columns)).add(row, hist_columns)
        facts = ConversationFact.objects.filter(filters.q(), split.edges("created_at"))
    else:
        facts = _facts(period, filters)
    if by is None:
        got = facts.aggregate(**_fact_counts())
        groups = [(None, got)] if got["conversations"] else []
    else:
        groups = [(r[by], r) for r in facts.values(by).annotate(**_fact_counts()).order_by()]
    for key, row in groups:
        _group(out, key, rollup.COUNTS, tuple(hist_columns)).add(row, {})
    if resolution and split is not None:  # without the rollup, the exact path reads them all
        timed = facts.filter(resolution_seconds__isnull=False)
        for key, seconds in timed.values_list(by or "shop_id", "resolution_seconds"):
            group = out[key if by else None]
            group.counts["resolved"] += 1
            group.counts["resolution_ms"] += round(seconds * 1000)
            group.hists["r"][histogram.bucket(seconds)] += 1
    return out


WAIT_HISTS = {"c": rollup.CALENDAR, "b": rollup.BUSINESS}


def _wait_sums(
    period: Period, filters: Filters, *, first: bool, by: str | None = None, split: Any = UNSET
) -> dict[Any, _Sums]:
    """The answered waits of the period's sums and histograms, per value of `by`."""
    out: dict[Any, _Sums] = {}
    split = _split(period, filters, split)
    if split is not None:
        fields = rollup.WAIT_COUNTS + rollup.CALENDAR + rollup.BUSINESS
        for key, row in rollup.sums(WaitDay, split, filters, by, fields, first=first).items():
            _group(out, key, rollup.WAIT_COUNTS, tuple(WAIT_HISTS)).add(row, WAIT_HISTS)
        waits = ResponseFact.objects.filter(filters.q(), split.edges("received_at"), first=first)
    else:
        waits = _waits(period, filters, first=first)
    answered = waits.filter(seconds__isnull=False)
    for key, seconds, business in answered.values_list(
        by or "shop_id", "seconds", "business_seconds"
    ):
        group = _group(out, key if by else None, rollup.WAIT_COUNTS, tuple(WAIT_HISTS))
        group.counts["answered"] += 1
        group.counts["seconds_ms"] += round(seconds * 1000)
        group.hists["c"][histogram.bucket(seconds)] += 1
        if business is not None:
            group.counts["business_answered"] += 1
            group.counts["business_ms"] += round(business * 1000)
            group.hists["b"][histogram.bucket(business)] += 1
    return out


def _times(sums: _Sums | None) -> ResponseTimes:
    if sums is None:
        empty = Durations(0, None, None, None)
        return ResponseTimes(empty, empty)
    return ResponseTimes(
        calendar=sums.durations("answered", "seconds_ms", "c"),
        business=sums.durations("business_answered", "business_ms", "b"),
    )


def _many(sums: _Sums | None, count: str) -> bool:
    """Too many durations to read them one by one: the histograms then."""
    return sums is not None and sums.counts[count] > EXACT_LIMIT


def _wait_times(
    period: Period, filters: Filters, *, first: bool, split: Any = UNSET
) -> ResponseTimes:
    split = _split(period, filters, split)
    if split is not None:
        sums = _wait_sums(period, filters, first=first, split=split).get(None)
        if _many(sums, "answered"):
            return _times(sums)
    return _response_times(_waits(period, filters, first=first))


def _share(sums: _Sums | None, part: str, whole: str) -> Share:
    if sums is None:
        return Share(0, 0)
    return Share(int(sums.counts[part]), int(sums.counts[whole]))


def first_response_time(period: Period, filters: Filters) -> ResponseTimes:
    """From the buyer's first message to the first reply (facts: ResponseFact, first)."""
    return _wait_times(period, filters, first=True)


def next_response_time(period: Period, filters: Filters) -> ResponseTimes:
    """From each later buyer message that found no wait open to the next reply."""
    return _wait_times(period, filters, first=False)


def within_sla(period: Period, filters: Filters) -> Share:
    """First responses within the channel's respond-by, among those decided."""
    return _share(_conversations(period, filters).get(None), "sla_part", "sla_whole")


def conversation_count(period: Period, filters: Filters) -> int:
    """Conversations created in the period (the rollup's whole days, the facts at the edges)."""
    sums = _conversations(period, filters).get(None)
    return 0 if sums is None else int(sums.counts["conversations"])


def sla_per(period: Period, filters: Filters, by: str) -> dict[Any, Share]:
    """`within_sla` per value of `by` (a rollup key, such as "channel_id")."""
    return {
        key: _share(sums, "sla_part", "sla_whole")
        for key, sums in _conversations(period, filters, by).items()
    }


@dataclass(frozen=True)
class Bucket:
    """A trend bucket's figures, as `conversation_count`, `within_sla`,
    `first_contact_resolution` and `first_response_time` compute them."""

    conversations: int
    within_sla: Share
    fcr: Share
    first_response: ResponseTimes


def bucket(period: Period, filters: Filters, zone: Any = UNSET, *, times: bool = True) -> Bucket:
    """One bucket of a trend: the conversations' sums read once for all its figures, split in
    `zone` (`rollup.zone(filters)`, asked once per trend); without `times`, no response times."""
    split = _split(period, filters, UNSET if zone is UNSET else rollup.split_in(period, zone))
    c = _conversations(period, filters, split=split).get(None)
    none = Durations(0, None, None, None)
    return Bucket(
        conversations=0 if c is None else int(c.counts["conversations"]),
        within_sla=_share(c, "sla_part", "sla_whole"),
        fcr=_share(c, "fcr_part", "fcr_whole"),
        first_response=_wait_times(period, filters, first=True, split=split)
        if times
        else ResponseTimes(none, none),
    )


def marketplace_late_rates(period: Period, filters: Filters) -> list[metrics.ChannelRates]:
    """Each channel's late-response rate as its marketplace counts it (on the facts)."""
    channels = Channel.objects.order_by("pk")
    for name, field in (("shop_id", "shop_id"), ("channel_id", "pk"), ("team_id", "team_id")):
        if getattr(filters, name) is not None:
            channels = channels.filter(**{field: getattr(filters, name)})
    if filters.marketplace is not None:
        channels = channels.filter(marketplace=filters.marketplace)
    return metrics.all_rates(channels, now=period.end, source=late_rates.FACTS)


def _resolution(period: Period, filters: Filters, sums: _Sums | None) -> Durations:
    if sums is not None and _many(sums, "resolved"):
        return sums.durations("resolved", "resolution_ms", "r")
    return durations(_facts(period, filters), "resolution_seconds")


def resolution_time(period: Period, filters: Filters) -> Durations:
    """From the first buyer message (or creation) to the resolution, of resolved conversations
    (calendar hours)."""
    sums = _conversations(period, filters, resolution=True).get(None)
    return _resolution(period, filters, sums)


def first_contact_resolution(period: Period, filters: Filters) -> Share:
    """Resolved after exactly one reply and not reopened within 7 days, among conversations
    that were resolved with at least one reply."""
    return _share(_conversations(period, filters).get(None), "fcr_part", "fcr_whole")


def reopen_rate(period: Period, filters: Filters) -> Share:
    """Conversations reopened at least once, among those resolved at least once."""
    return _share(_conversations(period, filters).get(None), "reopen_part", "reopen_whole")


def _mean_messages(sums: _Sums | None) -> float | None:
    if sums is None or not sums.counts["conversations"]:
        return None
    return sums.counts["messages"] / sums.counts["conversations"]


def messages_per_conversation(period: Period, filters: Filters) -> float | None:
    """Mean number of messages (buyer, replies, notes, automatic) per conversation."""
    return _mean_messages(_conversations(period, filters).get(None))


def no_response_needed_share(period: Period, filters: Filters) -> Share:
    """Conversations an agent marked as needing no response, among all."""
    sums = _conversations(period, filters).get(None)
    return _share(sums, "no_response_needed", "conversations")


def volume(period: Period, filters: Filters, by: str) -> dict[Any, int]:
    """Conversations created, by one of VOLUME_FIELDS (largest first)."""
    if by not in VOLUME_FIELDS:
        raise ValueError(f"volume by {by!r}: use one of {', '.join(VOLUME_FIELDS)}")
    counts: Counter[Any] = Counter()
    split = rollup.split(period, filters)
    if split is not None:
        model = VolumeDay if by in ("intent", "language") else ConversationDay
        for key, row in rollup.sums(model, split, filters, by, ["conversations"]).items():
            counts[key] += row["conversations"]
        facts = ConversationFact.objects.filter(filters.q(), split.edges("created_at"))
    else:
        facts = _facts(period, filters)
    for row in facts.values(by).annotate(n=Count("pk")).order_by():
        counts[row[by]] += row["n"]
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def heatmap(period: Period, filters: Filters) -> list[list[int]]:
    """Conversations created per weekday (Monday first) by hour of day, in the shop's time."""
    grid = [[0] * 24 for _ in range(7)]
    split = rollup.split(period, filters)
    if split is not None:
        for k, n in enumerate(rollup.cells(split, filters)):
            grid[k // 24][k % 24] = n
        facts = ConversationFact.objects.filter(filters.q(), split.edges("created_at"))
    else:
        facts = _facts(period, filters)
    for weekday, hour, n in facts.values_list("local_weekday", "local_hour").annotate(Count("pk")):
        grid[weekday][hour] += n
    return grid


def backlog(period: Period, filters: Filters) -> list[tuple[date, int]]:
    """Conversations open at the end of each day of the period (the shops' day; UTC when
    they have several timezones): created by then and not resolved by then (a conversation
    resolved now counts as open until its last resolution)."""
    zone = rollup.zone(filters)
    if zone is not None:
        last = (period.end - timedelta(microseconds=1)).astimezone(zone).date()
        return rollup.backlog(filters, period.start.astimezone(zone).date(), last)
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
    n_orders = order_models.placed(
        period.start,
        period.end,
        shop_id=filters.shop_id,
        channel_id=filters.channel_id,
        marketplace=filters.marketplace,
        team_id=filters.team_id,
    )
    if not n_orders:
        return None
    sums = _conversations(period, filters).get(None)
    return (sums.counts["conversations"] if sums else 0) * 100 / n_orders


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


def _per_rollup(
    period: Period, filters: Filters, key: str, split: rollup.Split
) -> list[PersonRow] | None:
    """The people's rows from the rollup's sums and histograms; None when the period holds
    few enough conversations to read them exactly."""
    groups = _conversations(period, filters, key, resolution=True, split=split)
    if sum(g.counts["conversations"] for g in groups.values()) <= EXACT_LIMIT:
        return None
    waits = _wait_sums(period, filters, first=True, by=key, split=split)
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1].counts["conversations"], kv[0] or 0))
    return [
        PersonRow(
            id=who,
            handled=int(g.counts["conversations"]),
            first_response=_times(waits.get(who)).calendar,
            resolution=g.durations("resolved", "resolution_ms", "r"),
            fcr=_share(g, "fcr_part", "fcr_whole"),
        )
        for who, g in ordered
    ]


def _per(period: Period, filters: Filters, key: str) -> list[PersonRow]:
    split = rollup.split(period, filters)
    rolled = None if split is None else _per_rollup(period, filters, key, split)
    if rolled is not None:
        return rolled
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
    split = rollup.split(period, filters)
    c = _conversations(period, filters, resolution=True, split=split).get(None)
    return Overview(
        conversations=int(c.counts["conversations"]) if c else 0,
        first_response=_wait_times(period, filters, first=True, split=split),
        next_response=_wait_times(period, filters, first=False, split=split),
        within_sla=_share(c, "sla_part", "sla_whole"),
        resolution=_resolution(period, filters, c),
        fcr=_share(c, "fcr_part", "fcr_whole"),
        reopen=_share(c, "reopen_part", "reopen_whole"),
        messages_per_conversation=_mean_messages(c),
        no_response_needed=_share(c, "no_response_needed", "conversations"),
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
    split = rollup.split(period, filters)
    groups = _conversations(period, filters, "channel_id", split=split)
    waits = _wait_sums(period, filters, first=True, by="channel_id", split=split) if split else {}

    def first_response(channel_id: int) -> Durations:
        if _many(waits.get(channel_id), "answered"):
            return _times(waits.get(channel_id)).calendar
        one = replace(filters, channel_id=channel_id)
        return durations(_waits(period, one, first=True), "seconds")

    ordered = sorted(groups.items(), key=lambda kv: (-kv[1].counts["conversations"], kv[0]))
    return [
        ChannelRow(
            channel_id=channel_id,
            conversations=int(g.counts["conversations"]),
            first_response=first_response(channel_id),
            within_sla=_share(g, "sla_part", "sla_whole"),
            fcr=_share(g, "fcr_part", "fcr_whole"),
            reopen=_share(g, "reopen_part", "reopen_whole"),
        )
        for channel_id, g in ordered
    ]
