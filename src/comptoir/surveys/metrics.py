"""Survey figures for analytics over a period: CSAT, NPS and the response rate.

Each takes the surveys to count (a queryset, default all) and an optional period on when they
were sent ([start, end)), and returns None when there is nothing to measure.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q, QuerySet

from comptoir.surveys.models import Survey, SurveyKind


def _scope(
    qs: QuerySet[Survey] | None, start: datetime | None, end: datetime | None, **filters: object
) -> QuerySet[Survey]:
    scoped = Survey.objects.all() if qs is None else qs
    if start is not None:
        scoped = scoped.filter(sent_at__gte=start)
    if end is not None:
        scoped = scoped.filter(sent_at__lt=end)
    return scoped.filter(**filters) if filters else scoped


def csat(
    qs: QuerySet[Survey] | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    **filters: object,
) -> float | None:
    """The share (0-100) of CSAT answers scoring 4 or 5."""
    answered = _scope(qs, start, end, **filters).filter(kind=SurveyKind.CSAT, score__isnull=False)
    row = answered.aggregate(n=Count("pk"), happy=Count("pk", filter=Q(score__gte=4)))
    return 100.0 * row["happy"] / row["n"] if row["n"] else None


def nps(
    qs: QuerySet[Survey] | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    **filters: object,
) -> float | None:
    """Promoters (9-10) minus detractors (0-6), in points of the NPS answers (-100 to 100)."""
    answered = _scope(qs, start, end, **filters).filter(kind=SurveyKind.NPS, score__isnull=False)
    row = answered.aggregate(
        n=Count("pk"),
        promoters=Count("pk", filter=Q(score__gte=9)),
        detractors=Count("pk", filter=Q(score__lte=6)),
    )
    if not row["n"]:
        return None
    return 100.0 * (row["promoters"] - row["detractors"]) / row["n"]


def response_rate(
    qs: QuerySet[Survey] | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    **filters: object,
) -> float | None:
    """The share (0-100) of the surveys sent that were answered."""
    row = _scope(qs, start, end, **filters).aggregate(
        n=Count("pk"), answered=Count("pk", filter=Q(answered_at__isnull=False))
    )
    return 100.0 * row["answered"] / row["n"] if row["n"] else None


def counts(
    qs: QuerySet[Survey] | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    **filters: object,
) -> tuple[int, int]:
    """The surveys sent, and those answered."""
    row = _scope(qs, start, end, **filters).aggregate(
        n=Count("pk"), answered=Count("pk", filter=Q(answered_at__isnull=False))
    )
    return row["n"], row["answered"]
