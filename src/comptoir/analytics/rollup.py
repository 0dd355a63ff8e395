"""The daily rollup: `ConversationDay`, `WaitDay`, `VolumeDay`, `HourDay` and `BacklogDay`,
sums of the facts per shop-local day and filter values, which the KPIs read for the whole days
of a period.

A slice (a shop's day) is always recomputed whole from the facts, never adjusted by a
difference: `facts.refresh` marks the slices the conversations it rewrites lay in before and
lie in after as dirty (`DirtyDay`), in the same transaction as the facts, and `refresh_dirty`
recomputes each marked slice once, after however many refreshes marked it (the worker runs it
once per pass, after the facts tasks queued before it). `rebuild` recomputes every slice. So
the rollup kept by the worker and the one rebuilt are the same computation on the same facts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Min, Q, Sum

from comptoir.analytics import histogram
from comptoir.analytics.models import (
    BacklogDay,
    ConversationDay,
    ConversationFact,
    DirtyDay,
    HourDay,
    ResponseFact,
    VolumeDay,
    WaitDay,
)
from comptoir.analytics.period import Filters, Period
from comptoir.inbox.models import Shop

DAYS_PER_PASS = 60  # slices recomputed together (a rebuild reads the facts in such passes)
WRITE_BATCH = 500
# Rollup writers take this transaction-level lock on PostgreSQL: two workers recomputing the
# same day would each delete it and insert their own computation.
LOCK_KEY = 0x524F4C4C  # "ROLL"

COUNTS = (
    "conversations",
    "sla_part",
    "sla_whole",
    "fcr_part",
    "fcr_whole",
    "reopen_part",
    "reopen_whole",
    "no_response_needed",
    "messages",
    "resolved",
    "resolution_ms",
)
WAIT_COUNTS = ("answered", "seconds_ms", "business_answered", "business_ms")
RESOLUTION = tuple(f"r{k}" for k in range(histogram.BUCKETS))
CALENDAR = tuple(f"c{k}" for k in range(histogram.BUCKETS))
BUSINESS = tuple(f"b{k}" for k in range(histogram.BUCKETS))
CELLS = tuple(f"h{k}" for k in range(7 * 24))  # HourDay: weekday * 24 + hour
KEY = ("day", "shop_id", "channel_id", "marketplace", "team_id", "assignee_id")

MODELS: tuple[Any, ...] = (ConversationDay, WaitDay, VolumeDay, HourDay, BacklogDay)
# Each table with month rows: what it adds to the key, what it sums (BacklogDay has none).
_TABLES: tuple[tuple[Any, tuple[str, ...], tuple[str, ...]], ...] = (
    (ConversationDay, (), COUNTS + RESOLUTION),
    (WaitDay, ("first",), WAIT_COUNTS + CALENDAR + BUSINESS),
    (VolumeDay, ("intent", "language"), ("conversations",)),
    (HourDay, (), CELLS),
)

Slices = dict[int, set[date]]  # shop -> its days
Row = tuple[Any, ...]


def zones() -> dict[int, ZoneInfo]:
    return {pk: ZoneInfo(name) for pk, name in Shop.objects.values_list("pk", "timezone")}


def midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, zone)


# -- keeping it --------------------------------------------------------------------------------


def slices_of(conversation_ids: Iterable[int]) -> Slices:
    """The slices the current facts of these conversations lie in: their day of creation, the
    day each of their waits began."""
    ids = list(conversation_ids)
    out: Slices = defaultdict(set)
    facts = ConversationFact.objects.filter(conversation_id__in=ids)
    for shop, day in facts.values_list("shop_id", "created_day").distinct():
        out[shop].add(day)
    waits = ResponseFact.objects.filter(conversation_id__in=ids)
    shop_zones = zones()
    for shop, at in waits.values_list("shop_id", "received_at"):
        out[shop].add(at.astimezone(shop_zones[shop]).date())
    return out


def merge(a: Slices, b: Slices) -> Slices:
    out: Slices = defaultdict(set)
    for slices in (a, b):
        for shop, days in slices.items():
            out[shop] |= days
    return out


def mark_dirty(slices: Slices) -> None:
    """Mark these slices for the next `refresh_dirty` (in the caller's transaction, so that a
    mark is seen only with the facts that made it)."""
    rows = [DirtyDay(shop_id=shop, day=day) for shop, days in slices.items() for day in days]
    DirtyDay.objects.bulk_create(rows, batch_size=WRITE_BATCH)


def refresh_dirty() -> int:
    """Recompute every slice marked dirty, once each; returns how many slices.

    Only the marks read here are deleted: one committed by a refresh while this runs is left
    for the next pass (its facts may be newer than what was read)."""
    with transaction.atomic():
        _lock()
        marks = list(DirtyDay.objects.values_list("pk", "shop_id", "day"))
        if not marks:
            return 0
        slices: Slices = defaultdict(set)
        for _pk, shop, day in marks:
            slices[shop].add(day)
        refresh(slices)
        pks = sorted(pk for pk, _shop, _day in marks)
        for start in range(0, len(pks), WRITE_BATCH):
            DirtyDay.objects.filter(pk__in=pks[start : start + WRITE_BATCH]).delete()
    return sum(len(days) for days in slices.values())


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def refresh(slices: Slices) -> None:
    """Recompute these slices from the facts (inside the caller's transaction if any)."""
    shop_zones = zones()
    with transaction.atomic():
        _lock()
        for shop, days in sorted(slices.items()):
            ordered = sorted(days)
            for start in range(0, len(ordered), DAYS_PER_PASS):
                _recompute(shop, ordered[start : start + DAYS_PER_PASS], shop_zones[shop])
            for first in sorted({day.replace(day=1) for day in days}):
                _recompute_month(shop, first)


def rebuild() -> int:
    """Every slice recomputed from the facts; returns the rollup's row count."""
    with transaction.atomic():
        _lock()
        for model in MODELS:
            model.objects.all().delete()
        DirtyDay.objects.all().delete()  # every slice is recomputed here
        shop_zones = zones()
        slices: Slices = defaultdict(set)
        for shop in shop_zones:
            first = ConversationFact.objects.filter(shop_id=shop).aggregate(day=Min("created_day"))[
                "day"
            ]
            first_wait = ResponseFact.objects.filter(shop_id=shop).aggregate(at=Min("received_at"))
            if first_wait["at"] is not None:
                wait_day = first_wait["at"].astimezone(shop_zones[shop]).date()
                first = wait_day if first is None else min(first, wait_day)
            if first is None:
                continue
            last = max(
                ConversationFact.objects.filter(shop_id=shop)
                .order_by("-created_day")
                .values_list("created_day", flat=True)
                .first()
                or first,
                _last_wait_day(shop, shop_zones[shop]) or first,
            )
            slices[shop] = {first + timedelta(days=i) for i in range((last - first).days + 1)}
        refresh(slices)
    return sum(m.objects.count() for m in MODELS)


def _last_wait_day(shop: int, zone: ZoneInfo) -> date | None:
    at = (
        ResponseFact.objects.filter(shop_id=shop)
        .order_by("-received_at")
        .values_list("received_at", flat=True)
        .first()
    )
    return at.astimezone(zone).date() if at else None


def _runs(days: list[date]) -> Iterator[tuple[date, date]]:
    """Sorted days as runs of consecutive ones: (first, last + 1 day)."""
    start = prev = days[0]
    for day in days[1:]:
        if day != prev + timedelta(days=1):
            yield start, prev + timedelta(days=1)
            start = day
        prev = day
    yield start, prev + timedelta(days=1)


def _next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def _recompute_month(shop: int, first: date) -> None:
    """A month's rows: the sums of its day rows, in SQL."""
    quote = connection.ops.quote_name
    adapt = connection.ops.adapt_datefield_value
    for model, extra, summed in _TABLES:
        model.objects.filter(shop_id=shop, month=True, day=first).delete()
        grouped = ", ".join(quote(c) for c in (*KEY[2:], *extra))
        columns = ", ".join(quote(c) for c in (*KEY, *extra, "month", *summed))
        sums = ", ".join(f"SUM({quote(c)})" for c in summed)
        table = quote(model._meta.db_table)
        sql = (
            f"INSERT INTO {table} ({columns}) SELECT %s, %s, {grouped}, %s, {sums} "
            f"FROM {table} WHERE shop_id = %s AND {quote('month')} = %s "
            f"AND day >= %s AND day < %s GROUP BY {grouped}"
        )
        params = [adapt(first), shop, True, shop, False, adapt(first), adapt(_next_month(first))]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _recompute(shop: int, days: list[date], zone: ZoneInfo) -> None:
    for model in MODELS:
        model.objects.filter(shop_id=shop, month=False, day__in=days).delete()
    conversations, volumes, hours, backlog = _conversation_rows(shop, days, zone)
    _insert(ConversationDay, KEY + COUNTS + RESOLUTION, conversations)
    _insert(VolumeDay, (*KEY, "intent", "language", "conversations"), volumes)
    _insert(HourDay, KEY + CELLS, hours)
    adapt = connection.ops.adapt_datefield_value
    backlog = [(*row[:-2], adapt(row[-2]), row[-1]) for row in backlog]
    _insert(BacklogDay, (*KEY, "resolved_day", "conversations"), backlog)
    columns = (*KEY, "first", *WAIT_COUNTS, *CALENDAR, *BUSINESS)
    _insert(WaitDay, columns, _wait_rows(shop, days, zone))


def _insert(model: Any, columns: tuple[str, ...], rows: list[Row]) -> None:
    """Plain INSERTs: the rows are wide (a column per bucket), model instances would cost more
    than the computation."""
    if not rows:
        return
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({marks})"
    adapt = connection.ops.adapt_datefield_value
    with connection.cursor() as cursor:
        for start in range(0, len(rows), WRITE_BATCH):
            batch = rows[start : start + WRITE_BATCH]
            cursor.executemany(sql, [(adapt(row[0]), *row[1:]) for row in batch])


def _conversation_rows(
    shop: int, days: list[date], zone: ZoneInfo
) -> tuple[list[Row], list[Row], list[Row], list[Row]]:
    rows = (
        ConversationFact.objects.filter(shop_id=shop, created_day__in=days)
        .order_by("conversation_id")
        .values_list(
            "created_day",
            "channel_id",
            "marketplace",
            "team_id",
            "assignee_id",
            "intent",
            "language",
            "within_sla",
            "fcr",
            "agent_replies",
            "resolved_at",
            "reopened",
            "no_response_needed",
            "message_count",
            "resolution_seconds",
            "local_weekday",
            "local_hour",
        )
    )
    sums: dict[tuple[Any, ...], list[Any]] = {}
    hists: dict[tuple[Any, ...], list[int]] = {}
    volumes: dict[tuple[Any, ...], int] = defaultdict(int)
    cells: dict[tuple[Any, ...], list[int]] = {}
    backlog: dict[tuple[Any, ...], int] = defaultdict(int)
    for row in rows:
        day, channel, market, team, who, intent, language = row[:7]
        sla, fcr, replies, resolved_at, reopened, nrn, messages, resolution = row[7:15]
        key = (day, shop, channel, market, team, who)
        volumes[(*key, intent, language)] += 1
        cells.setdefault(key, [0] * len(CELLS))[row[15] * 24 + row[16]] += 1
        backlog[(*key, resolved_at.astimezone(zone).date() if resolved_at else None)] += 1
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = [0] * 11
            hists[key] = [0] * histogram.BUCKETS
        resolved_once = resolved_at is not None or reopened
        acc[0] += 1
        acc[1] += sla is True
        acc[2] += sla is not None
        acc[3] += fcr
        acc[4] += bool(replies) and (resolved_once or fcr)
        acc[5] += reopened
        acc[6] += resolved_once
        acc[7] += nrn
        acc[8] += messages
        if resolution is not None:
            acc[9] += 1
            acc[10] += round(resolution * 1000)
            hists[key][histogram.bucket(resolution)] += 1
    conversation_days = [(*key, *acc, *hists[key]) for key, acc in sums.items()]
    volume_days = [(*key, n) for key, n in volumes.items()]
    hour_days = [(*key, *counts) for key, counts in cells.items()]
    backlog_days = [(*key, n) for key, n in backlog.items()]
    return conversation_days, volume_days, hour_days, backlog_days


def _wait_rows(shop: int, days: list[date], zone: ZoneInfo) -> list[Row]:
    within = Q()
    for first, end in _runs(days):
        within |= Q(received_at__gte=midnight(first, zone), received_at__lt=midnight(end, zone))
    rows = (
        ResponseFact.objects.filter(within, shop_id=shop)
        .order_by("conversation_id", "received_at")
        .values_list(
            "received_at",
            "channel_id",
            "marketplace",
            "team_id",
            "assignee_id",
            "first",
            "seconds",
            "business_seconds",
        )
    )
    sums: dict[tuple[Any, ...], list[Any]] = {}
    calendar: dict[tuple[Any, ...], list[int]] = {}
    business: dict[tuple[Any, ...], list[int]] = {}
    for at, channel, market, team, who, is_first, seconds, business_seconds in rows:
        key = (at.astimezone(zone).date(), shop, channel, market, team, who, is_first)
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = [0, 0, 0, 0]
            calendar[key] = [0] * histogram.BUCKETS
            business[key] = [0] * histogram.BUCKETS
        if seconds is None:
            continue  # unanswered: in no response time
        acc[0] += 1
        acc[1] += round(seconds * 1000)
        calendar[key][histogram.bucket(seconds)] += 1
        if business_seconds is not None:
            acc[2] += 1
            acc[3] += round(business_seconds * 1000)
            business[key][histogram.bucket(business_seconds)] += 1
    return [(*key, *acc, *calendar[key], *business[key]) for key, acc in sums.items()]


# -- reading it --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """A period as whole days [first_day, end_day) of the rollup, and the ragged edges around
    them, [period.start, first midnight) and [last midnight, period.end), left to the facts."""

    period: Period
    first_day: date
    end_day: date
    zone: ZoneInfo

    def days(self) -> Q:
        """The rollup rows of those days: month rows for the whole months, day rows around."""
        first_month = self.first_day if self.first_day.day == 1 else _next_month(self.first_day)
        end_month = self.end_day.replace(day=1)
        if end_month <= first_month:
            return Q(month=False, day__gte=self.first_day, day__lt=self.end_day)
        return (
            Q(month=True, day__gte=first_month, day__lt=end_month)
            | Q(month=False, day__gte=self.first_day, day__lt=first_month)
            | Q(month=False, day__gte=end_month, day__lt=self.end_day)
        )

    def edges(self, field: str) -> Q:
        """The edges, on a fact's datetime field."""
        inner_start, inner_end = (
            midnight(self.first_day, self.zone),
            midnight(self.end_day, self.zone),
        )
        return Q(**{f"{field}__gte": self.period.start, f"{field}__lt": inner_start}) | Q(
            **{f"{field}__gte": inner_end, f"{field}__lt": self.period.end}
        )


def zone(filters: Filters) -> ZoneInfo | None:
    """The timezone of the shops in scope; None when they have several (a day is not the same
    stretch of time for all) or there is no shop."""
    shops = Shop.objects.all()
    if filters.shop_id is not None:
        shops = shops.filter(pk=filters.shop_id)
    names = set(shops.values_list("timezone", flat=True))
    return ZoneInfo(names.pop()) if len(names) == 1 else None


def split(period: Period, filters: Filters) -> Split | None:
    """The period's whole days, in the timezone of the shops in scope; None when they have
    several timezones or no whole day fits."""
    return split_in(period, zone(filters))


def split_in(period: Period, zone: ZoneInfo | None) -> Split | None:
    """`split` with the scope's `zone` already known (a caller cutting many periods asks
    for it once)."""
    return None if zone is None else _split_in(period, zone)


def _split_in(period: Period, zone: ZoneInfo) -> Split | None:
    start = period.start.astimezone(zone)
    first_day = start.date()
    if midnight(first_day, zone) < period.start:
        first_day += timedelta(days=1)
    end_day = period.end.astimezone(zone).date()
    if end_day <= first_day:
        return None
    return Split(period, first_day, end_day, zone)


def sums(
    model: Any, split: Split, filters: Filters, by: str | None, fields: Iterable[str], **where: Any
) -> dict[Any, dict[str, Any]]:
    """The rollup's sums over the split's days, per value of `by` (None: one group, None)."""
    rows = model.objects.filter(filters.q(), split.days(), **where)
    totals = {f: Sum(f) for f in fields}
    if by is None:
        got = rows.aggregate(**totals)
        return {} if got[next(iter(totals))] is None else {None: got}
    return {row[by]: row for row in rows.values(by).annotate(**totals).order_by()}


def cells(split: Split, filters: Filters) -> list[int]:
    """The heatmap's cells (`CELLS`) summed over the split's days."""
    got = sums(HourDay, split, filters, None, CELLS).get(None, {})
    return [got.get(column) or 0 for column in CELLS]


def backlog(filters: Filters, first: date, last: date) -> list[tuple[date, int]]:
    """Conversations open at the end of each shop-local day from `first` to `last`: created
    by then and not resolved by then (by their last resolution)."""
    rows = BacklogDay.objects.filter(filters.q(), day__lte=last)
    still = Q(resolved_day__isnull=True) | Q(resolved_day__gt=first)
    n = "conversations"
    open_count = rows.filter(still, day__lte=first).aggregate(n=Sum(n))["n"] or 0
    created = dict(rows.filter(day__gt=first).values_list("day").annotate(Sum(n)).order_by())
    ended = rows.filter(resolved_day__gt=first, resolved_day__lte=last)
    resolved = dict(ended.values_list("resolved_day").annotate(Sum(n)).order_by())
    out = [(first, open_count)]
    day = first
    while day < last:
        day += timedelta(days=1)
        open_count += created.get(day, 0) - resolved.get(day, 0)
        out.append((day, open_count))
    return out
