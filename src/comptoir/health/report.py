"""Each marketplace channel's health: its metrics now, their state against the threshold, and
their weekly trend. Read by the page, the API, the CSV and the periodic warning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from comptoir.health import metrics
from comptoir.health.metrics import Measure
from comptoir.health.models import ThresholdOverride
from comptoir.health.thresholds import (
    METRIC_NAMES,
    NOT_MARKETPLACES,
    SHOWN_AS_GOOD,
    Metric,
    Rule,
    rules_for,
)
from comptoir.inbox.models import Channel

OK, WARNING, BREACHED, NO_DATA = "ok", "warning", "breached", "no_data"
SEVERITY = {NO_DATA: 0, OK: 0, WARNING: 1, BREACHED: 2}
EPSILON = 1e-9


def warning_share() -> float:
    """The share of a threshold at which a metric warns (0.8 by default)."""
    return int(settings.HEALTH_WARNING_PERCENT) / 100


def state_of(rate: float | None, limit: float, share: float) -> str:
    """ok, warning (at `share` of the limit or more) or breached (past the limit)."""
    if rate is None:
        return NO_DATA
    # Shares are compared to the billionth: 1 of 100 is 40 % of 2.5 %, whatever floats say.
    if rate - limit > EPSILON:
        return BREACHED
    if rate - limit * share > -EPSILON:
        return WARNING
    return OK


def shown(metric: Metric, rate: float | None) -> float | None:
    """The figure as the marketplace shows it: the tracked share for valid tracking."""
    if rate is None:
        return None
    return 1 - rate if metric in SHOWN_AS_GOOD else rate


@dataclass(frozen=True)
class Card:
    rule: Rule
    measure: Measure | None
    state: str
    # (point, shown rate or None) oldest first; empty when not asked for.
    trend: list[tuple[datetime, float | None]]

    @property
    def metric(self) -> Metric:
        return self.rule.metric

    @property
    def name(self) -> str:
        return str(METRIC_NAMES[self.rule.metric])

    @property
    def value(self) -> float | None:
        return shown(self.rule.metric, self.measure.rate if self.measure else None)

    @property
    def threshold(self) -> float:
        return shown(self.rule.metric, self.rule.limit) or 0.0

    @property
    def shown_count(self) -> int | None:
        """The orders counted in the figure as shown: the tracked ones for valid tracking."""
        if self.measure is None:
            return None
        return self.measure.whole - self.measure.bad if self.good_above else self.measure.bad

    @property
    def good_above(self) -> bool:
        """The threshold is a floor (valid tracking), not a ceiling."""
        return self.rule.metric in SHOWN_AS_GOOD


@dataclass(frozen=True)
class ChannelHealth:
    channel_id: int
    channel_name: str
    marketplace: str
    cards: list[Card]

    @property
    def state(self) -> str:
        """The worst state of its cards."""
        states = [c.state for c in self.cards] or [NO_DATA]
        return max(states, key=lambda s: (SEVERITY[s], s != NO_DATA))


def marketplace_channels(channels: Sequence[Channel]) -> list[Channel]:
    """The channels a marketplace judges (the shop's own mail is judged by no one)."""
    return [c for c in channels if c.marketplace not in NOT_MARKETPLACES]


def overrides() -> dict[tuple[str, str], float]:
    return {
        (o.marketplace, o.metric): o.limit
        for o in ThresholdOverride.objects.all().only("marketplace", "metric", "limit")
    }


def build(
    channels: Sequence[Channel], now: datetime | None = None, *, trend: bool = True
) -> list[ChannelHealth]:
    """The health of each marketplace channel among these, in the order given."""
    now = now or timezone.now()
    chosen = marketplace_channels(channels)
    if not chosen:
        return []
    share, own = warning_share(), overrides()
    at_points = metrics.points(now) if trend else [now]
    since = at_points[0] - timedelta(days=metrics.LONGEST_WINDOW + 1)
    facts = metrics.order_facts([c.pk for c in chosen], since, now)
    for pk, claims in metrics.claim_facts([c.pk for c in chosen], since, now).items():
        facts[pk].claims = claims
    responses = {at: metrics.late_responses(chosen, at, current=at == now) for at in at_points}
    out = []
    for channel in chosen:
        cards = []
        for rule in rules_for(channel.marketplace, own):
            series = [
                metrics.measure(
                    rule.metric, rule.window_days, at, channel.pk, facts[channel.pk], responses[at]
                )
                for at in at_points
            ]
            current = series[-1]
            rate = current.rate if current else None
            cards.append(
                Card(
                    rule=rule,
                    measure=current,
                    state=state_of(rate, rule.limit, share),
                    trend=[
                        (at, shown(rule.metric, m.rate if m else None))
                        for at, m in zip(at_points, series, strict=True)
                    ]
                    if trend
                    else [],
                )
            )
        out.append(ChannelHealth(channel.pk, channel.name, channel.marketplace, cards))
    return out
