"""Case figures for analytics over a period (`docs/metrics.md`, "Cases").

Analytics calls these with its own `Period` and `Filters` (`comptoir.analytics.period`). Cases
sit below analytics in the layers (analytics reads cases, the rules open them), so this module
cannot import those types: it names what it reads of them as Protocols, which they satisfy.

A case is placed in a period by when it was opened ([start, end)); "resolved" figures count the
cases opened in the period that are resolved now. Filters apply to the case's conversation
(shop, team, assignee) and to its channel (channel, marketplace).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from django.db.models import Count, QuerySet, Sum

from comptoir.cases.models import Case, OpenedBy, Stage
from comptoir.orders import models as order_models


class PeriodLike(Protocol):
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...


class FiltersLike(Protocol):
    @property
    def shop_id(self) -> int | None: ...
    @property
    def channel_id(self) -> int | None: ...
    @property
    def team_id(self) -> int | None: ...
    @property
    def marketplace(self) -> str | None: ...
    @property
    def assignee_id(self) -> int | None: ...


def cases_in(period: PeriodLike, filters: FiltersLike) -> QuerySet[Case]:
    """The cases opened in the period that the filters keep."""
    qs = Case.objects.filter(opened_at__gte=period.start, opened_at__lt=period.end)
    if filters.shop_id is not None:
        qs = qs.filter(conversation__shop_id=filters.shop_id)
    if filters.channel_id is not None:
        qs = qs.filter(channel_id=filters.channel_id)
    if filters.team_id is not None:
        qs = qs.filter(conversation__team_id=filters.team_id)
    if filters.marketplace is not None:
        qs = qs.filter(channel__marketplace=filters.marketplace)
    if filters.assignee_id is not None:
        qs = qs.filter(conversation__assignee_id=filters.assignee_id)
    return qs


def opened(period: PeriodLike, filters: FiltersLike, *, disputes_only: bool = False) -> int:
    """Cases opened in the period; with `disputes_only`, those the marketplace opened (eBay
    returns, inquiries and cases, A-to-z, Cdiscount claims, Fnac and Mirakl incidents): the
    "disputes" KPI."""
    qs = cases_in(period, filters)
    if disputes_only:
        qs = qs.filter(opened_by=OpenedBy.MARKETPLACE)
    return qs.count()


def per_100_orders(
    period: PeriodLike, filters: FiltersLike, *, disputes_only: bool = True
) -> float | None:
    """Disputes (or every case) opened per 100 orders placed in the period; None without
    orders. Orders are filtered as analytics filters them (shop, channel, marketplace, team:
    the channel's); an assignee filter leaves the orders whole."""
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
    return opened(period, filters, disputes_only=disputes_only) * 100 / n_orders


@dataclass(frozen=True)
class ResolveTimes:
    """Hours from opening to resolution of the cases opened in the period and resolved."""

    count: int
    median: float | None
    mean: float | None
    still_open: int


def time_to_resolve(period: PeriodLike, filters: FiltersLike) -> ResolveTimes:
    qs = cases_in(period, filters)
    pairs = qs.filter(stage=Stage.RESOLVED, resolved_at__isnull=False).values_list(
        "opened_at", "resolved_at"
    )
    hours = sorted(
        max((done - began).total_seconds(), 0) / 3600 for began, done in pairs if done is not None
    )
    still_open = qs.exclude(stage=Stage.RESOLVED).count()
    if not hours:
        return ResolveTimes(0, None, None, still_open)
    return ResolveTimes(len(hours), statistics.median(hours), statistics.fmean(hours), still_open)


def refunded_amounts(period: PeriodLike, filters: FiltersLike) -> dict[str, Decimal]:
    """Refunds recorded on the cases opened in the period, per currency ({"EUR": 125.50})."""
    rows = (
        cases_in(period, filters)
        .filter(refund_amount__isnull=False)
        .values("currency")
        .annotate(total=Sum("refund_amount"))
        .order_by("currency")
    )
    return {r["currency"]: r["total"] for r in rows}


def outcomes_by_marketplace(period: PeriodLike, filters: FiltersLike) -> dict[str, dict[str, int]]:
    """{marketplace: {outcome: cases}} of the cases opened in the period; a case without an
    outcome yet counts under ""."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    rows = (
        cases_in(period, filters)
        .values("channel__marketplace", "outcome")
        .annotate(n=Count("pk"))
        .order_by("channel__marketplace", "outcome")
    )
    for row in rows:
        found[row["channel__marketplace"]][row["outcome"]] = row["n"]
    return dict(found)


def outcomes_by_kind(period: PeriodLike, filters: FiltersLike) -> dict[str, dict[str, int]]:
    """{case kind (the reason): {outcome: cases}}, as `outcomes_by_marketplace`."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    rows = (
        cases_in(period, filters)
        .values("kind", "outcome")
        .annotate(n=Count("pk"))
        .order_by("kind", "outcome")
    )
    for row in rows:
        found[row["kind"]][row["outcome"]] = row["n"]
    return dict(found)
