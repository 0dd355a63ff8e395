"""The KPIs other apps count (surveys, cases), in the analytics filters' terms: `kpis` names
them with its own (`kpis.csat`, `kpis.disputes` ...)."""

from __future__ import annotations

from typing import Any

from comptoir.analytics.period import Filters, Period
from comptoir.cases import metrics as case_metrics
from comptoir.surveys import metrics as survey_metrics


def survey_filters(filters: Filters) -> dict[str, Any]:
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
    return survey_metrics.csat(None, start=period.start, end=period.end, **survey_filters(filters))


def nps(period: Period, filters: Filters) -> float | None:
    """Net promoter score: promoters (9-10) minus detractors (0-6), -100 to 100, for the
    surveys sent in the period (`surveys.metrics.nps`); None without answers."""
    return survey_metrics.nps(None, start=period.start, end=period.end, **survey_filters(filters))


def survey_response_rate(period: Period, filters: Filters) -> float | None:
    """The share (0-100) of the surveys sent in the period that were answered."""
    return survey_metrics.response_rate(
        None, start=period.start, end=period.end, **survey_filters(filters)
    )


def survey_counts(period: Period, filters: Filters) -> tuple[int, int]:
    """Surveys sent in the period, and how many of them were answered."""
    return survey_metrics.counts(
        None, start=period.start, end=period.end, **survey_filters(filters)
    )


def disputes(period: Period, filters: Filters) -> int | None:
    """Marketplace disputes opened in the period: the cases a marketplace opened (eBay
    returns, inquiries and cases, Cdiscount claims, Fnac incidents; `cases.metrics.opened`)."""
    return case_metrics.opened(period, filters, disputes_only=True)


def disputes_per_100_orders(period: Period, filters: Filters) -> float | None:
    """Marketplace disputes opened per 100 orders placed in the period; None without orders."""
    return case_metrics.per_100_orders(period, filters, disputes_only=True)
