"""The report's pieces (`analytics.report`): what a report holds, the period cut in buckets, the
charts drawn as SVG, and the formats of its cells."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from django.utils import formats, timezone

from comptoir.analytics import svg
from comptoir.analytics.figures import Chart, Figure, KeyFigure
from comptoir.analytics.filters import Chosen
from comptoir.analytics.period import Period
from comptoir.inbox.models import Channel

# A number with one decimal (messages per conversation, conversations per 100 orders).
DECIMAL = "decimal"
# Rows of the lists (worst breaches, longest waits) and of the intents table.
LIST_ROWS = 15
TOP_INTENTS = 12
# The worst breaches are looked for among this many longest waits (the deadline of each
# depends on its channel's calendar, so "most late" is sorted in Python, on a few rows).
CANDIDATES = 60

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Drawn:
    """A chart: its SVG, and its caption when one series is drawn (several have a legend)."""

    svg: str
    caption: str = ""


@dataclass
class Item:
    """A figure (its table) with its charts, already drawn, and a note under it."""

    figure: Figure
    charts: list[Drawn] = field(default_factory=list)
    note: str = ""


@dataclass
class Section:
    key: str
    title: str
    keys: list[KeyFigure] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    note: str = ""


@dataclass
class Report:
    chosen: Chosen
    scope: list[tuple[str, str]]  # (what, which): shop, channel, team
    previous_first: date
    previous_last: date
    generated_at: datetime
    language: str
    bucket: str  # "day", "week" or "month"
    sections: list[Section] = field(default_factory=list)


def bucket_kind(days: int) -> str:
    if days <= 31:
        return "day"
    return "week" if days <= 26 * 7 else "month"


def buckets(period: Period, kind: str) -> list[Period]:
    """The period cut in days, weeks (from its first day) or calendar months, in local time."""
    zone = timezone.get_current_timezone()
    out: list[Period] = []
    start = period.start
    while start < period.end:
        local = timezone.localtime(start, zone)
        if kind == "month":
            days = calendar.monthrange(local.year, local.month)[1] - local.day + 1
        else:
            days = 1 if kind == "day" else 7
        end_day = local.date() + timedelta(days=days)
        end = datetime.combine(end_day, datetime.min.time(), zone)
        end = min(end, period.end)
        out.append(Period(start, end))
        start = end
    return out


def day(at: datetime) -> str:
    return formats.date_format(timezone.localtime(at).date(), "SHORT_DATE_FORMAT")


def when(at: datetime | None) -> str:
    if at is None:
        return ""
    return formats.date_format(timezone.localtime(at), "SHORT_DATETIME_FORMAT")


def share100(value: float | None) -> float | None:
    return None if value is None else value / 100


def chart(figure: Figure, kind: str, series: tuple[int, ...], *, half: bool = False) -> list[Drawn]:
    """The chart of some columns of a figure, none when it has no rows (`half`: drawn
    narrower, to sit beside another one with its text at the same size)."""
    drawn = replace(figure, chart=Chart(kind, series))
    if not drawn.rows:
        return []
    data = drawn.chart_data()
    width = 470 if half else 760
    caption = str(figure.columns[series[0]].label) if len(series) == 1 else ""
    if kind == "hbar":
        return [Drawn(svg.bars(data, figure.title, width=width), caption)]
    return [Drawn(svg.columns({**data, "type": kind}, figure.title, width=width), caption)]


def channel_names() -> dict[int, str]:
    return dict(Channel.objects.values_list("pk", "name"))
