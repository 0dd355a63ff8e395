"""What a dashboard shows, independent of HTML: key figures against the previous period, and
figures (a table of raw values, optionally drawn as a chart). The page renders a figure's
rows, the chart script draws its `chart_data`, and the CSV download writes its rows as they
are (hours and shares unrounded, dots for decimals): one source for all three."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Column kinds: how a value is shown (the template tag `cell`) and drawn.
TEXT, COUNT, HOURS, SHARE, SCORE = "text", "count", "hours", "share", "score"
HEAT_LEVELS = 6  # the shades of a heatmap's cells (analytics.css: .heat-1 to .heat-6)


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = TEXT


@dataclass(frozen=True)
class Chart:
    """How to draw a figure: the first column labels the x axis, `series` are the columns
    drawn (indexes into the figure's columns)."""

    type: str  # "bar", "line", or "heatmap" (a shaded table, drawn as PNG on demand)
    series: tuple[int, ...]


@dataclass
class Figure:
    key: str  # in the URL of its CSV download: letters and dashes
    title: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    chart: Chart | None = None
    folded: bool = False  # a long table (one row a day) starts folded under its chart

    def chart_data(self) -> dict[str, Any]:
        """What `charts.js` draws: labels, one dataset per series, and the unit of the axis.
        Shares are drawn as percentages."""
        assert self.chart is not None
        kinds = {self.columns[i].kind for i in self.chart.series}
        unit = kinds.pop() if len(kinds) == 1 else ""
        return {
            "type": self.chart.type,
            "unit": unit,
            "labels": [str(row[0]) for row in self.rows],
            "datasets": [
                {
                    "label": str(self.columns[i].label),
                    "data": [_drawn(row[i], self.columns[i].kind) for row in self.rows],
                }
                for i in self.chart.series
            ],
        }

    @property
    def heat(self) -> list[tuple[Any, list[tuple[Any, int]]]]:
        """A heatmap's rows: the label, then each cell with its shade from 0 (none) to
        HEAT_LEVELS (the busiest cell), for the page's shaded table."""
        top = max((v or 0 for row in self.rows for v in row[1:]), default=0)
        return [
            (
                row[0],
                [(v, 0 if not v else 1 + (HEAT_LEVELS - 1) * v // top) for v in row[1:]],
            )
            for row in self.rows
        ]

    @property
    def table(self) -> list[list[tuple[Any, str]]]:
        """The rows as (value, kind) cells, for the page's table."""
        kinds = [c.kind for c in self.columns]
        return [list(zip(row, kinds, strict=True)) for row in self.rows]

    def csv_rows(self) -> list[list[Any]]:
        header = [str(c.label) + (" (%)" if c.kind == SHARE else "") for c in self.columns]
        body = [
            ["" if v is None else _drawn(v, c.kind) for v, c in zip(row, self.columns, strict=True)]
            for row in self.rows
        ]
        return [header, *body]


def _drawn(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == SHARE:
        return round(value * 100, 2)
    if kind in (HOURS, SCORE):
        return round(value, 3)
    return value


@dataclass(frozen=True)
class KeyFigure:
    """A headline figure, its value in the previous period of the same length, and whether a
    lower value is the better one (response times, reopen rate)."""

    label: str
    kind: str
    value: float | None
    previous: float | None
    lower_is_better: bool | None = False  # None: neither (a volume)

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def verdict(self) -> str:
        """ "better", "worse" or "" (no change, or nothing to compare)."""
        change = self.change
        if not change or self.lower_is_better is None:
            return ""
        return "better" if (change < 0) == self.lower_is_better else "worse"
