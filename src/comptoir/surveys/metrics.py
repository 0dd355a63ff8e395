"""Survey figures for analytics over a period: CSAT, NPS and the response rate.

Each takes the surveys to count (a queryset, default all) and an optional period on when they
were sent ([start, end)), and returns None when there is nothing to measure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When

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


# -- grouped: one query for many rows of a table (per channel, per week) ------------------------


@dataclass(frozen=True)
class Scores:
    """The survey figures of one group: CSAT and response rate in 0-100, NPS in -100..100
    (None when there is nothing to measure), and the surveys sent and answered."""

    csat: float | None
    nps: float | None
    sent: int
    answered: int

    @property
    def response_rate(self) -> float | None:
        return 100.0 * self.answered / self.sent if self.sent else None


EMPTY = Scores(None, None, 0, 0)


def _grouped_counts() -> dict[str, Any]:
    csat_answered = Q(kind=SurveyKind.CSAT, score__isnull=False)
    nps_answered = Q(kind=SurveyKind.NPS, score__isnull=False)
    return {
        "sent": Count("pk"),
        "answered": Count("pk", filter=Q(answered_at__isnull=False)),
        "csat_n": Count("pk", filter=csat_answered),
        "csat_happy": Count("pk", filter=csat_answered & Q(score__gte=4)),
        "nps_n": Count("pk", filter=nps_answered),
        "promoters": Count("pk", filter=nps_answered & Q(score__gte=9)),
        "detractors": Count("pk", filter=nps_answered & Q(score__lte=6)),
    }


def _scores(row: dict[str, Any]) -> Scores:
    """The same arithmetic as `csat`, `nps` and `response_rate`, from one group's counts."""
    return Scores(
        csat=100.0 * row["csat_happy"] / row["csat_n"] if row["csat_n"] else None,
        nps=(
            100.0 * (row["promoters"] - row["detractors"]) / row["nps_n"] if row["nps_n"] else None
        ),
        sent=row["sent"],
        answered=row["answered"],
    )


def scores_by(
    field: str,
    qs: QuerySet[Survey] | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    **filters: object,
) -> dict[Any, Scores]:
    """`Scores` per value of `field` (a lookup such as "conversation__channel_id"), in one
    query; a value without surveys is absent (use `EMPTY`)."""
    rows = _scope(qs, start, end, **filters).values(field).annotate(**_grouped_counts()).order_by()
    return {row[field]: _scores(row) for row in rows}


def scores_by_bucket(
    starts: Sequence[datetime],
    end: datetime,
    qs: QuerySet[Survey] | None = None,
    **filters: object,
) -> list[Scores]:
    """`Scores` of the surveys sent in each [starts[i], starts[i+1]) (the last bucket ends at
    `end`), in one query: the bucket is computed by the database (a CASE on `sent_at`)."""
    if not starts:
        return []
    bucket = Case(
        *(When(sent_at__lt=bound, then=Value(i)) for i, bound in enumerate(starts[1:])),
        default=Value(len(starts) - 1),
        output_field=IntegerField(),
    )
    rows = (
        _scope(qs, starts[0], end, **filters)
        .annotate(bucket=bucket)
        .values("bucket")
        .annotate(**_grouped_counts())
        .order_by()
    )
    found = {row["bucket"]: _scores(dict(row)) for row in rows}
    return [found.get(i, EMPTY) for i in range(len(starts))]
