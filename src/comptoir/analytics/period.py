"""What every KPI takes: a period and filters, and the summary of a list of durations."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone


@dataclass(frozen=True)
class Period:
    """[start, end): conversations (and waits) are placed by when they began."""

    start: datetime
    end: datetime

    @classmethod
    def last(cls, days: int, now: datetime | None = None) -> Period:
        now = now or timezone.now()
        return cls(now - timedelta(days=days), now)


@dataclass(frozen=True)
class Filters:
    """None: no filter on that field."""

    shop_id: int | None = None
    channel_id: int | None = None
    team_id: int | None = None
    marketplace: str | None = None
    assignee_id: int | None = None

    def q(self) -> Q:
        """The filters on a fact table (both fact tables name the fields alike)."""
        q = Q()
        for name in ("shop_id", "channel_id", "team_id", "marketplace", "assignee_id"):
            value = getattr(self, name)
            if value is not None:
                q &= Q(**{name: value})
        return q


@dataclass(frozen=True)
class Durations:
    """Median, mean and 90th percentile of durations, in hours (None when there are none)."""

    count: int
    median: float | None
    mean: float | None
    p90: float | None

    @classmethod
    def of_seconds(cls, seconds: Sequence[float]) -> Durations:
        if not seconds:
            return cls(0, None, None, None)
        hours = sorted(s / 3600 for s in seconds)
        p90 = (
            hours[0]
            if len(hours) == 1
            else statistics.quantiles(hours, n=10, method="inclusive")[-1]
        )
        return cls(len(hours), statistics.median(hours), statistics.fmean(hours), p90)


@dataclass(frozen=True)
class ResponseTimes:
    calendar: Durations
    business: Durations


@dataclass(frozen=True)
class Share:
    """`part` of `whole`; `share` in 0..1, None when `whole` is 0."""

    part: int
    whole: int

    @property
    def share(self) -> float | None:
        return self.part / self.whole if self.whole else None
