"""The account-health figures of each marketplace channel, over each marketplace's window.

Read from what Comptoir already holds, each placed in a window by one date:

- **late shipment**: orders whose ship-by date falls in the window (cancelled before shipping
  left out); late when shipped after it, or not shipped and the date has passed.
- **cancellation / refusal**: orders placed in the window, cancelled before they shipped (who
  cancelled is not in the order sync: a buyer's own cancellation, which Amazon leaves out,
  counts too, so the figure never flatters).
- **late response**: `comptoir.sla.metrics` (each marketplace's 24 or 48 hours), not counted
  again here.
- **claims**: cases the marketplace opened (`comptoir.cases.metrics`, the "disputes") per order
  placed in the window.
- **valid tracking**: orders shipped in the window that carry a tracking number; "not known"
  when none of the channel's recent orders carries one (the marketplace does not report it).

The trend is thirteen weekly points over the last 90 days, each the figure over the
marketplace's window ending that day, as the marketplace would have shown it then (with what is
known now: an order cancelled since counts as cancelled).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q

from comptoir.analytics import late_rates
from comptoir.cases import metrics as case_metrics
from comptoir.cases.models import OpenedBy
from comptoir.health.thresholds import RESPONSE_WINDOWS, Metric
from comptoir.inbox.models import Channel
from comptoir.orders.models import Order, OrderStatus
from comptoir.sla import metrics as sla_metrics

WEEKS = 13  # points of the trend, a week apart: the last 90 days
LONGEST_WINDOW = 90


@dataclass(frozen=True)
class Measure:
    bad: int  # late, cancelled, claimed, answered late, untracked
    whole: int

    @property
    def rate(self) -> float | None:
        """The bad share (0..1); None when there was nothing to count."""
        return self.bad / self.whole if self.whole else None


@dataclass
class _Series:
    """Dated observations (bad or not), sorted, counted in any window by bisection."""

    dates: list[datetime] = field(default_factory=list)
    bad_before: list[int] = field(default_factory=lambda: [0])

    def measure(self, start: datetime, end: datetime) -> Measure:
        lo = bisect.bisect_left(self.dates, start)
        hi = bisect.bisect_left(self.dates, end)
        return Measure(self.bad_before[hi] - self.bad_before[lo], hi - lo)


def _series(rows: Iterable[tuple[datetime, bool]]) -> _Series:
    out = _Series()
    for when, bad in sorted(rows, key=lambda r: r[0]):
        out.dates.append(when)
        out.bad_before.append(out.bad_before[-1] + int(bad))
    return out


@dataclass
class OrderFacts:
    """One channel's orders, as the three order metrics read them."""

    shipping: _Series
    cancelling: _Series  # every order placed, by its date: the claims rate's orders too
    tracking: _Series
    tracking_known: bool
    claims: _Series = field(default_factory=_Series)


def order_facts(
    channel_ids: Sequence[int], since: datetime, now: datetime
) -> dict[int, OrderFacts]:
    """The orders of these channels touching the period, read once (one query)."""
    rows = (
        Order.objects.filter(channel_id__in=channel_ids)
        .filter(Q(ordered_at__gte=since) | Q(ship_by__gte=since) | Q(shipped_at__gte=since))
        .values_list(
            "channel_id", "status", "ordered_at", "ship_by", "shipped_at", "tracking_number"
        )
    )
    shipping: dict[int, list[tuple[datetime, bool]]] = defaultdict(list)
    cancelling: dict[int, list[tuple[datetime, bool]]] = defaultdict(list)
    tracking: dict[int, list[tuple[datetime, bool]]] = defaultdict(list)
    tracked: set[int] = set()
    for channel_id, status, ordered, ship_by, shipped, number in rows:
        cancelled = status in (OrderStatus.CANCELLED, OrderStatus.REFUNDED) and shipped is None
        if ship_by is not None and not cancelled and ship_by <= now:
            late = shipped > ship_by if shipped is not None else True
            shipping[channel_id].append((ship_by, late))
        if ordered is not None:
            unshipped_cancel = status == OrderStatus.CANCELLED and shipped is None
            cancelling[channel_id].append((ordered, unshipped_cancel))
        if shipped is not None:
            tracking[channel_id].append((shipped, not number))
            if number:
                tracked.add(channel_id)
    return {
        pk: OrderFacts(
            _series(shipping[pk]), _series(cancelling[pk]), _series(tracking[pk]), pk in tracked
        )
        for pk in channel_ids
    }


@dataclass(frozen=True)
class _Period:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class _ChannelFilter:
    """What `cases.metrics` filters by: one channel."""

    channel_id: int | None
    shop_id: int | None = None
    team_id: int | None = None
    marketplace: str | None = None
    assignee_id: int | None = None


def claim_facts(channel_ids: Sequence[int], since: datetime, now: datetime) -> dict[int, _Series]:
    """The claims the marketplaces opened on these channels since `since` (the cases' own
    "disputes": `cases.metrics`), read once; their rate's orders are the orders placed."""
    disputes = case_metrics.cases_in(_Period(since, now), _ChannelFilter(None)).filter(
        channel_id__in=channel_ids, opened_by=OpenedBy.MARKETPLACE
    )
    opened: dict[int, list[tuple[datetime, bool]]] = defaultdict(list)
    for channel_id, at in disputes.values_list("channel_id", "opened_at"):
        opened[channel_id].append((at, True))
    return {pk: _series(opened[pk]) for pk in channel_ids}


def response_window(days: int) -> int:
    """The nearest window `comptoir.sla.metrics` counts over (7, 30 or 90 days)."""
    return min(RESPONSE_WINDOWS, key=lambda d: abs(d - days))


def late_responses(
    channels: Sequence[Channel], at: datetime, *, current: bool = True
) -> dict[int, dict[int, Measure]]:
    """{channel id: {days: late/counted}} at `at`, by the SLA's own rules: on the raw messages
    for the current figure (to the second), on analytics' facts for the trend's past points
    (the same count, kept by the worker, without a look-up per message)."""
    source = sla_metrics.RAW if current else late_rates.FACTS
    out: dict[int, dict[int, Measure]] = {}
    for rates in sla_metrics.all_rates(channels, now=at, source=source):
        out[rates.channel_id] = {r.days: Measure(r.late, r.counted) for r in rates.periods}
    return out


def points(now: datetime) -> list[datetime]:
    """The trend's weekly points, oldest first, the last one now."""
    return [now - timedelta(weeks=WEEKS - 1 - k) for k in range(WEEKS)]


def measure(
    metric: Metric,
    window_days: int,
    at: datetime,
    channel_id: int,
    facts: OrderFacts,
    responses: dict[int, dict[int, Measure]],
) -> Measure | None:
    """One metric of one channel over the window ending at `at`; None when not known."""
    start = at - timedelta(days=window_days)
    if metric == Metric.LATE_SHIPMENT:
        return facts.shipping.measure(start, at)
    if metric == Metric.CANCELLATION:
        return facts.cancelling.measure(start, at)
    if metric == Metric.VALID_TRACKING:
        return facts.tracking.measure(start, at) if facts.tracking_known else None
    if metric == Metric.CLAIMS:
        placed = facts.cancelling.measure(start, at).whole
        return Measure(facts.claims.measure(start, at).whole, placed)
    return responses.get(channel_id, {}).get(response_window(window_days))
