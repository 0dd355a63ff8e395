"""Business-time arithmetic: opening hours per weekday in a timezone, holidays, closures.

No Django here: a `Calendar` is a plain value, and the functions take and return aware
datetimes (returned in UTC).

What "open" means, exactly (the property tests check it against a minute-by-minute walk): an
instant is open when its wall-clock time in the calendar's timezone falls inside one of the
opening intervals of its local weekday, its local date is not a holiday, and it lies in no
closure. Wall-clock semantics settle the DST days: on the spring change an interval loses the
hour that does not exist (09:00-18:00 is unaffected, 01:00-04:00 lasts two hours), on the autumn
change an interval covering the repeated hour lasts one hour more. A holiday on a day that is
closed anyway changes nothing (no day is moved unless the holiday list itself says so).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

# Minutes since local midnight: (start, end), 0 <= start < end <= 1440.
Interval = tuple[int, int]
Span = tuple[datetime, datetime]

DAY_MINUTES = 24 * 60
# A calendar with no opening at all would make `add` search forever: it gives up after this.
MAX_SEARCH_DAYS = 3 * 366
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class NeverOpen(ValueError):
    """The calendar has no opening within MAX_SEARCH_DAYS of the instant asked about."""


@dataclass(frozen=True)
class Calendar:
    """Opening hours (per weekday, Monday = 0), holidays (local dates) and closures (instants).

    `closures` are (start, end) aware datetimes: an exceptional closure (inventory day, a
    strike) given as a range of time rather than dates.
    """

    timezone: str = "UTC"
    hours: tuple[tuple[Interval, ...], ...] = ((),) * 7
    holidays: frozenset[date] = frozenset()
    closures: tuple[Span, ...] = ()
    _days: dict[date, tuple[Span, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if len(self.hours) != 7:
            raise ValueError("hours needs one entry per weekday (Monday first)")
        for day in self.hours:
            for start, end in day:
                if not 0 <= start < end <= DAY_MINUTES:
                    raise ValueError(f"bad opening interval {start}-{end} (minutes)")
        ZoneInfo(self.timezone)  # fails fast on an unknown zone
        closures = tuple(sorted((_utc(a), _utc(b)) for a, b in self.closures if b > a))
        object.__setattr__(self, "closures", closures)
        object.__setattr__(self, "hours", tuple(tuple(_merge(d)) for d in self.hours))

    @property
    def tz(self) -> ZoneInfo:
        return _zone(self.timezone)

    @classmethod
    def always_open(cls, timezone: str = "UTC") -> Calendar:
        return cls(timezone=timezone, hours=(((0, DAY_MINUTES),),) * 7)

    @classmethod
    def weekly(
        cls,
        timezone: str,
        hours: Mapping[int, Sequence[tuple[str | time, str | time]]],
        *,
        holidays: Iterable[date] = (),
        closures: Iterable[Span] = (),
    ) -> Calendar:
        """From {weekday: [("09:00", "18:00"), ...]}; "24:00" (or time(0) as an end) is
        midnight at the end of the day."""
        week = tuple(
            tuple((minutes(s), minutes(e, end=True)) for s, e in hours.get(day, ()))
            for day in range(7)
        )
        return cls(
            timezone=timezone,
            hours=week,
            holidays=frozenset(holidays),
            closures=tuple(closures),
        )

    def day_spans(self, day: date) -> tuple[Span, ...]:
        """The open spans (UTC) of one local date, closures removed, in order."""
        spans = self._days.get(day)
        if spans is None:
            spans = self._compute_day(day)
            if len(self._days) > 4096:
                self._days.clear()
            self._days[day] = spans
        return spans

    def _compute_day(self, day: date) -> tuple[Span, ...]:
        if day in self.holidays or not self.hours[day.weekday()]:
            return ()
        midnight = datetime.combine(day, time())
        spans: list[Span] = []
        for piece_start, piece_end, offset in _offset_pieces(self.timezone, day):
            for start, end in self.hours[day.weekday()]:
                # Wall time w is reached at UTC instant w - offset while this offset holds.
                a = (midnight + timedelta(minutes=start) - offset).replace(tzinfo=UTC)
                b = (midnight + timedelta(minutes=end) - offset).replace(tzinfo=UTC)
                a, b = max(a, piece_start), min(b, piece_end)
                if a < b:
                    spans.append((a, b))
        spans = _merge_spans(spans)
        return tuple(_subtract(spans, self.closures))


# -- the four questions -------------------------------------------------------------------------


def is_open(cal: Calendar, at: datetime) -> bool:
    at = _utc(at)
    return any(a <= at < b for a, b in cal.day_spans(_local_date(cal, at)))


def next_opening(cal: Calendar, at: datetime) -> datetime:
    """`at` itself when open, else the start of the next open span."""
    at = _utc(at)
    for a, _ in _spans_from(cal, at):
        return max(a, at)
    raise NeverOpen(f"no opening within {MAX_SEARCH_DAYS} days of {at.isoformat()}")


def add(cal: Calendar, start: datetime, duration: timedelta) -> datetime:
    """The earliest instant by which `duration` of open time has passed since `start`.

    A zero duration gives `start` itself; a duration that runs out exactly at closing time
    gives the closing time (not the next morning).
    """
    start = _utc(start)
    if duration < timedelta(0):
        raise ValueError("add a positive duration")
    if duration == timedelta(0):
        return start
    left = duration
    for a, b in _spans_from(cal, start):
        a = max(a, start)
        if b - a >= left:
            return a + left
        left -= b - a
    raise NeverOpen(f"no opening within {MAX_SEARCH_DAYS} days of {start.isoformat()}")


def elapsed(cal: Calendar, start: datetime, end: datetime) -> timedelta:
    """Open time between two instants (negative when `end` is before `start`)."""
    start, end = _utc(start), _utc(end)
    if end < start:
        return -elapsed(cal, end, start)
    total = timedelta(0)
    for a, b in _spans_from(cal, start, until=end):
        total += min(b, end) - max(a, start)
    return total


class Clock:
    """`elapsed` for many pairs of instants within [start, end]: the open spans listed once,
    each with the open time before it, so that an instant's open time since `start` is one
    bisection and a pair's elapsed time a difference of two (exact: whole microseconds).
    Walking the days for each pair, a late-rate count over 90 days of a channel's messages
    was the slowest step of the analyst's report. Outside the range: `elapsed` itself."""

    def __init__(self, cal: Calendar, start: datetime, end: datetime) -> None:
        self.cal, self.start, self.end = cal, _utc(start), _utc(end)
        self._starts: list[datetime] = []
        self._ends: list[datetime] = []
        self._before: list[timedelta] = []
        total = timedelta(0)
        for a, b in _spans_from(cal, self.start, until=self.end):
            self._starts.append(a)
            self._ends.append(b)
            self._before.append(total)
            total += b - a

    def _since_start(self, at: datetime) -> timedelta:
        i = bisect_right(self._starts, at) - 1
        if i < 0:
            return timedelta(0)
        return self._before[i] + min(self._ends[i], at) - self._starts[i]

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        start, end = _utc(start), _utc(end)
        if not (self.start <= start <= self.end and self.start <= end <= self.end):
            return elapsed(self.cal, start, end)
        return self._since_start(end) - self._since_start(start)


def add_calendar_or_business(
    cal: Calendar | None, start: datetime, duration: timedelta
) -> datetime:
    """Calendar time when `cal` is None, business time otherwise."""
    return _utc(start) + duration if cal is None else add(cal, start, duration)


# -- holidays -----------------------------------------------------------------------------------


def public_holidays(country: str, subdivision: str = "", years: Iterable[int] = ()) -> set[date]:
    """Public holidays of a country (and subdivision: "BY", "Alsace-Moselle" ...) from the
    `holidays` package; an unknown country gives none rather than failing a deadline."""
    if not country:
        return set()
    return set(_holidays(country.upper(), subdivision, tuple(sorted(set(years)))))


@lru_cache(maxsize=64)
def _holidays(country: str, subdivision: str, years: tuple[int, ...]) -> frozenset[date]:
    import holidays as holidays_package

    try:
        found = holidays_package.country_holidays(country, subdiv=subdivision or None, years=years)
    except (NotImplementedError, KeyError, ValueError):
        return frozenset()
    return frozenset(found.keys())


# -- helpers ------------------------------------------------------------------------------------


def _spans_from(cal: Calendar, at: datetime, until: datetime | None = None) -> Iterator[Span]:
    """Open spans ending after `at`, in order (those starting before `until`, when given)."""
    day = _local_date(cal, at) - timedelta(days=1)  # a span of the day before may still run
    for _ in range(MAX_SEARCH_DAYS + 2):
        for a, b in cal.day_spans(day):
            if until is not None and a >= until:
                return
            if b > at:
                yield a, b
        if until is not None and _utc_midnight_guess(day, cal) > until:
            return
        day += timedelta(days=1)


def _utc_midnight_guess(day: date, cal: Calendar) -> datetime:
    # Past this instant (minus the widest UTC offset) no span of `day` or later can start
    # before `until`: 14 h is the largest offset in use.
    return datetime.combine(day, time(), tzinfo=UTC) - timedelta(hours=14)


def _local_date(cal: Calendar, at: datetime) -> date:
    return at.astimezone(cal.tz).date()


@lru_cache(maxsize=8192)
def _offset_pieces(zone: str, day: date) -> tuple[tuple[datetime, datetime, timedelta], ...]:
    """Split the UTC window that can hold instants of local date `day` into pieces of constant
    UTC offset (one offset change at most: zones do not change twice within two days)."""
    tz = _zone(zone)
    lo = datetime.combine(day, time(), tzinfo=UTC) - timedelta(hours=15)
    hi = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC) + timedelta(hours=15)
    first, last = _offset(tz, lo), _offset(tz, hi)
    if first == last:
        return ((lo, hi, first),)
    a, b = lo, hi  # the change is in (a, b]: bisect to the second
    while b - a > timedelta(seconds=1):
        mid = a + (b - a) / 2
        mid = mid.replace(microsecond=0)
        if mid <= a:
            mid = a + timedelta(seconds=1)
        if _offset(tz, mid) == first:
            a = mid
        else:
            b = mid
    return ((lo, b, first), (b, hi, last))


def _offset(tz: ZoneInfo, at: datetime) -> timedelta:
    return at.astimezone(tz).utcoffset() or timedelta(0)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("business-time arithmetic needs aware datetimes")
    return at.astimezone(UTC)


def minutes(value: str | time, *, end: bool = False) -> int:
    if isinstance(value, str):
        hours, _, minutes = value.partition(":")
        total = int(hours) * 60 + int(minutes or 0)
    else:
        total = value.hour * 60 + value.minute
    if end and total == 0:
        return DAY_MINUTES
    return total


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _merge_spans(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _subtract(spans: list[Span], closures: Sequence[Span]) -> list[Span]:
    if not closures or not spans:
        return spans
    # Only the closures that can touch these spans (closures are sorted by start).
    starts = [c[0] for c in closures]
    upto = bisect_right(starts, spans[-1][1])
    relevant = [c for c in closures[:upto] if c[1] > spans[0][0]]
    out: list[Span] = []
    for a, b in spans:
        pieces = [(a, b)]
        for ca, cb in relevant:
            pieces = [
                piece
                for pa, pb in pieces
                for piece in ((pa, min(pb, ca)), (max(pa, cb), pb))
                if piece[0] < piece[1]
            ]
        out.extend(pieces)
    return out
