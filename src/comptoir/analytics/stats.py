"""Median, mean and 90th percentile of a column, in the database where it can.

PostgreSQL computes them itself (`percentile_cont`, the same linear interpolation as
`statistics.quantiles(method="inclusive")`); SQLite has no percentile, so the column comes back
and Python sorts it. Both give the same figures (tests run on both).
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Aggregate, Avg, Count, FloatField

from comptoir.analytics.period import Durations


class Percentile(Aggregate):
    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: str, fraction: float) -> None:
        super().__init__(expression, fraction=float(fraction))


def durations_pair(rows: Any, first: str, second: str) -> tuple[Durations, Durations]:
    """`durations` of two columns set together (a wait's calendar and business seconds): on
    SQLite in one read of the rows."""
    if connection.vendor == "postgresql":
        return durations(rows, first), durations(rows, second)
    pairs = list(rows.filter(**{f"{first}__isnull": False}).values_list(first, second))
    return (
        Durations.of_seconds([p[0] for p in pairs]),
        Durations.of_seconds([p[1] for p in pairs if p[1] is not None]),
    )


def durations(rows: Any, field: str) -> Durations:
    """Durations (hours) of `field` (seconds) over the rows where it is set."""
    rows = rows.filter(**{f"{field}__isnull": False})
    if connection.vendor != "postgresql":
        return Durations.of_seconds(list(rows.values_list(field, flat=True)))
    got = rows.aggregate(
        n=Count(field),
        median=Percentile(field, 0.5),
        mean=Avg(field),
        p90=Percentile(field, 0.9),
    )
    if not got["n"]:
        return Durations(0, None, None, None)
    return Durations(got["n"], got["median"] / 3600, got["mean"] / 3600, got["p90"] / 3600)


def durations_by(rows: Any, key: str, field: str) -> dict[Any, Durations]:
    """`durations` of `field` per value of `key`: on PostgreSQL in one grouped query (at a
    million conversations a year, reading the column back took seconds)."""
    rows = rows.filter(**{f"{field}__isnull": False})
    if connection.vendor != "postgresql":
        seconds: dict[Any, list[float]] = {}
        for value, s in rows.values_list(key, field):
            seconds.setdefault(value, []).append(s)
        return {value: Durations.of_seconds(s) for value, s in seconds.items()}
    got = rows.values(key).annotate(
        n=Count(field),
        median=Percentile(field, 0.5),
        mean=Avg(field),
        p90=Percentile(field, 0.9),
    )
    return {
        r[key]: Durations(r["n"], r["median"] / 3600, r["mean"] / 3600, r["p90"] / 3600)
        for r in got.order_by()
    }
