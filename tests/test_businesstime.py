"""Business-time arithmetic, checked against a minute-by-minute walk (no Django needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from comptoir.lib.businesstime import (
    Calendar,
    Clock,
    NeverOpen,
    add,
    elapsed,
    is_open,
    next_opening,
    public_holidays,
)

PARIS = ZoneInfo("Europe/Paris")
MINUTE = timedelta(minutes=1)
OFFICE = {d: [("09:00", "18:00")] for d in range(5)}


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


# -- the brute force: the definition, minute by minute --------------------------------------------


def brute_open(cal: Calendar, at: datetime) -> bool:
    local = at.astimezone(ZoneInfo(cal.timezone))
    if local.date() in cal.holidays:
        return False
    minute = local.hour * 60 + local.minute
    if not any(s <= minute < e for s, e in cal.hours[local.weekday()]):
        return False
    return not any(a <= at < b for a, b in cal.closures)


def brute_add(cal: Calendar, start: datetime, minutes: int, cap: int) -> datetime | None:
    t, left = start, minutes
    for _ in range(cap):
        if left == 0:
            return t
        if brute_open(cal, t):
            left -= 1
        t += MINUTE
    return t if left == 0 else None


def brute_elapsed(cal: Calendar, start: datetime, end: datetime) -> timedelta:
    t, total = start, 0
    while t < end:
        total += brute_open(cal, t)
        t += MINUTE
    return total * MINUTE


# -- strategies: calendars and instants around DST changes ---------------------------------------

ZONES = ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
# Instants near DST changes (Paris, New York, Lord Howe's half-hour shift) and plain weeks.
BASES = [
    datetime(2026, 3, 28, tzinfo=UTC),
    datetime(2026, 10, 24, tzinfo=UTC),
    datetime(2026, 3, 7, tzinfo=UTC),
    datetime(2026, 10, 31, tzinfo=UTC),
    datetime(2026, 4, 4, tzinfo=UTC),
    datetime(2026, 12, 24, tzinfo=UTC),
]

interval = st.tuples(st.integers(0, 95), st.integers(1, 24)).map(
    lambda p: (p[0] * 15, min(1440, p[0] * 15 + p[1] * 30))
)
day_hours = st.lists(interval, max_size=2).map(tuple)
instants = st.tuples(st.sampled_from(BASES), st.integers(0, 4 * 1440)).map(
    lambda p: p[0] + p[1] * MINUTE
)


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    zone = draw(st.sampled_from(ZONES))
    hours = tuple(draw(day_hours) for _ in range(7))
    assume(sum(e - s for day in hours for s, e in day) >= 6 * 60)  # some opening every week
    base = draw(st.sampled_from(BASES)).date()
    holidays = draw(st.sets(st.integers(-2, 8).map(lambda d: base + timedelta(days=d)), max_size=3))
    closures = []
    for _ in range(draw(st.integers(0, 2))):
        start = draw(instants)
        closures.append((start, start + draw(st.integers(1, 2 * 1440)) * MINUTE))
    return Calendar(
        timezone=zone, hours=hours, holidays=frozenset(holidays), closures=tuple(closures)
    )


FAST = settings(max_examples=200, deadline=None)


@FAST
@given(cal=calendars(), start=instants, minutes=st.integers(0, 1800))
def test_add_matches_the_minute_walk(cal: Calendar, start: datetime, minutes: int) -> None:
    expected = brute_add(cal, start, minutes, cap=12 * 1440)
    assume(expected is not None)
    assert add(cal, start, minutes * MINUTE) == expected


@FAST
@given(cal=calendars(), start=instants, length=st.integers(0, 3 * 1440))
def test_elapsed_matches_the_minute_walk(cal: Calendar, start: datetime, length: int) -> None:
    end = start + length * MINUTE
    assert elapsed(cal, start, end) == brute_elapsed(cal, start, end)


@FAST
@given(
    cal=calendars(),
    start=instants,
    pairs=st.lists(
        st.tuples(st.integers(-1440, 5 * 1440), st.integers(-1440, 5 * 1440)), max_size=8
    ),
)
def test_a_clock_measures_as_elapsed(
    cal: Calendar, start: datetime, pairs: list[tuple[int, int]]
) -> None:
    """The late-rate count's clock (the spans listed once) gives `elapsed` exactly, inside
    its range and outside it, for either order of the instants."""
    clock = Clock(cal, start, start + 4 * 1440 * MINUTE)
    for a, b in pairs:
        x, y = start + a * MINUTE + timedelta(seconds=a % 7), start + b * MINUTE
        assert clock.elapsed(x, y) == elapsed(cal, x, y)


@settings(max_examples=400, deadline=None)
@given(cal=calendars(), at=instants)
def test_is_open_matches_the_definition(cal: Calendar, at: datetime) -> None:
    assert is_open(cal, at) == brute_open(cal, at)


@FAST
@given(cal=calendars(), at=instants)
def test_next_opening_is_the_first_open_minute(cal: Calendar, at: datetime) -> None:
    t = at
    for _ in range(12 * 1440):
        if brute_open(cal, t):
            break
        t += MINUTE
    else:
        assume(False)
    assert next_opening(cal, at) == t


@FAST
@given(cal=calendars(), start=instants, minutes=st.integers(1, 1800))
def test_added_time_is_elapsed_time(cal: Calendar, start: datetime, minutes: int) -> None:
    end = add(cal, start, minutes * MINUTE)
    assert elapsed(cal, start, end) == minutes * MINUTE


# -- examples a human can check ------------------------------------------------------------------


def test_friday_evening_plus_24_business_hours_is_wednesday_afternoon() -> None:
    cal = Calendar.weekly("Europe/Paris", OFFICE)
    # Friday 17:00: 1 h on Friday, 9 h Monday, 9 h Tuesday, 5 h Wednesday.
    assert add(cal, paris(2026, 11, 20, 17), timedelta(hours=24)) == paris(2026, 11, 25, 14)


def test_a_monday_holiday_pushes_the_deadline_a_day() -> None:
    # Easter Monday 2026 is 6 April.
    cal = Calendar.weekly("Europe/Paris", OFFICE, holidays=public_holidays("FR", years=[2026]))
    assert add(cal, paris(2026, 4, 3, 17), timedelta(hours=24)) == paris(2026, 4, 9, 14)


def test_a_holiday_on_a_saturday_changes_nothing() -> None:
    fr = public_holidays("FR", years=[2028])
    assert date(2028, 11, 11) in fr  # Armistice Day, a Saturday in 2028
    assert date(2028, 11, 11).weekday() == 5
    with_holidays = Calendar.weekly("Europe/Paris", OFFICE, holidays=fr)
    without = Calendar.weekly("Europe/Paris", OFFICE)
    start = paris(2028, 11, 10, 12)
    assert add(with_holidays, start, timedelta(hours=20)) == add(
        without, start, timedelta(hours=20)
    )


def test_the_spring_change_shortens_a_night_interval_and_keeps_office_hours() -> None:
    night = Calendar.weekly("Europe/Paris", {6: [("01:00", "04:00")]})
    # 29 March 2026, 02:00 does not exist in Paris: 01:00-04:00 lasts two hours.
    day = paris(2026, 3, 29)
    assert elapsed(night, day, day + timedelta(days=1)) == timedelta(hours=2)
    office = Calendar.weekly("Europe/Paris", OFFICE)
    assert add(office, paris(2026, 3, 27, 17), timedelta(hours=2)) == paris(2026, 3, 30, 10)


def test_the_autumn_change_lengthens_an_interval_over_the_repeated_hour() -> None:
    night = Calendar.weekly("Europe/Paris", {6: [("01:00", "04:00")]})
    day = paris(2026, 10, 25)
    assert elapsed(night, day, day + timedelta(days=1)) == timedelta(hours=4)


def test_always_open_counts_real_time_across_dst() -> None:
    cal = Calendar.always_open("Europe/Paris")
    start = paris(2026, 3, 28, 12)
    assert add(cal, start, timedelta(hours=24)) == start.astimezone(UTC) + timedelta(hours=24)


def test_a_closure_is_skipped_and_next_opening_follows_it() -> None:
    closure = (paris(2026, 11, 23, 9), paris(2026, 11, 23, 14))
    cal = Calendar.weekly("Europe/Paris", OFFICE, closures=[closure])
    assert not is_open(cal, paris(2026, 11, 23, 10))
    assert next_opening(cal, paris(2026, 11, 23, 8)) == paris(2026, 11, 23, 14)
    assert is_open(cal, paris(2026, 11, 23, 14))


def test_a_calendar_never_open_says_so() -> None:
    with pytest.raises(NeverOpen):
        add(Calendar(timezone="Europe/Paris"), paris(2026, 1, 1), timedelta(hours=1))


def test_alsace_moselle_has_more_holidays_than_the_rest_of_france() -> None:
    extra = public_holidays("FR", "57", years=[2026]) - public_holidays("FR", years=[2026])
    assert date(2026, 12, 26) in extra  # Saint Stephen's day
