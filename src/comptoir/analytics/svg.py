"""Charts drawn on the server as SVG, for the HTML report: a file that opens offline, prints
sharp at any size and needs no script (Chart.js inlined would add 210 kB to every report and
draw nothing where scripts are off: a mail client's preview, a locked-down viewer).

Each function takes what `Figure.chart_data()` gives (labels, datasets of numbers or None, the
unit: shares already in percent) and returns one `<svg>` element, its text escaped. The
drawing is plain: axes with round ticks, the report's palette, a legend when there are several
series. Sizes are in the viewBox; the page's CSS scales the chart to its column.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from django.utils.formats import number_format

COLOURS = ("#2f5bea", "#98a2b3", "#12b76a", "#f79009", "#7a5af8", "#f04438")
SUFFIX = {"share": " %", "hours": " h"}
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'


def _fmt(value: float, unit: str) -> str:
    digits = 0 if unit in ("count", "score") or abs(value) >= 100 else 1
    if digits == 1 and float(value).is_integer():
        digits = 0
    text = number_format(round(value, digits), digits, force_grouping=True)
    return text.replace("-", "\u2212") + SUFFIX.get(unit, "")


def _nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) cutting `span` in about `ticks`."""
    raw = span / ticks if span > 0 else 1
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def _scale(values: Sequence[float], unit: str) -> tuple[float, float, list[float]]:
    """The axis' bottom, top and ticks: from zero (scores may go below it)."""
    low = min([0.0, *values]) if unit == "score" else 0.0
    high = max([0.0, *values])
    if high == low:
        high = low + 1
    step = _nice_step(high - low)
    if unit == "count":
        step = max(1.0, math.ceil(step))
    bottom = math.floor(low / step) * step
    top = math.ceil(high / step) * step
    ticks = [bottom + i * step for i in range(round((top - bottom) / step) + 1)]
    return bottom, top, ticks


def _numbers(data: dict[str, Any]) -> list[float]:
    return [float(v) for d in data["datasets"] for v in d["data"] if v is not None]


def _legend(datasets: list[dict[str, Any]], x: float, width: float) -> tuple[list[str], int]:
    """The series' names, wrapped to `width`: the elements and the height they take."""
    if len(datasets) < 2:
        return [], 0
    out, at, y = [], x, 14
    for i, d in enumerate(datasets):
        colour = COLOURS[i % len(COLOURS)]
        text = str(d["label"])
        room = 22 + 7 * len(text)  # about 7 units a character at 12
        if at > x and at + room > x + width:
            at, y = x, y + 18
        out.append(f'<rect x="{at:.0f}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
        out.append(
            f'<text x="{at + 14:.0f}" y="{y}" font-size="12" fill="#344054">{escape(text)}</text>'
        )
        at += room
    return out, y + 10


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        # Inline SVG in HTML needs no namespace: the file names no address at all.
        f'<svg viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" {FONT}>'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def columns(data: dict[str, Any], title: str, *, width: int = 760, height: int = 260) -> str:
    """Vertical bars (one group per label) or lines (`data["type"] == "line"`) over the labels:
    the trends and the score distributions."""
    labels = [str(label) for label in data["labels"]]
    datasets = data["datasets"]
    unit = data.get("unit", "")
    bottom, top, ticks = _scale(_numbers(data), unit)
    left, right = 64, 30
    legend, top_pad = _legend(datasets, left, width - left - right)
    height += top_pad
    top_pad += 10
    base = height - 34
    plot_w, plot_h = width - left - right, base - top_pad

    def y_of(v: float) -> float:
        return base - (v - bottom) / (top - bottom) * plot_h

    body = legend
    for t in ticks:
        y = y_of(t)
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{"#98a2b3" if t == 0 else "#eaecf0"}" stroke-width="1"/>'
        )
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#667085">{escape(_fmt(t, unit))}</text>'
        )
    n = max(1, len(labels))
    slot = plot_w / n
    every = max(1, math.ceil(n / max(1, plot_w // 64)))  # a label every ~64 units at most
    for i, label in enumerate(labels):
        if i % every == 0:
            x = left + slot * (i + 0.5)
            short = label if len(label) <= 12 else label[:11] + "…"
            body.append(
                f'<text x="{x:.1f}" y="{base + 16}" font-size="11" text-anchor="middle" '
                f'fill="#667085">{escape(short)}</text>'
            )
    x_of = [left + slot * (i + 0.5) for i in range(n)]
    if data["type"] == "line":
        body += _lines(datasets, x_of, y_of, dots=n <= 40)
    else:
        body += _bars(datasets, x_of, y_of, slot)
    return _svg(width, height, title, body)


def _lines(
    datasets: list[dict[str, Any]], x_of: list[float], y_of: Callable[[float], float], *, dots: bool
) -> list[str]:
    body = []
    for k, d in enumerate(datasets):
        colour = COLOURS[k % len(COLOURS)]
        path, pen = [], "M"
        for x, v in zip(x_of, d["data"], strict=False):
            if v is None:
                pen = "M"  # a gap: nothing to measure then
                continue
            path.append(f"{pen}{x:.1f},{y_of(float(v)):.1f}")
            pen = "L"
        if path:
            body.append(
                f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" '
                f'stroke-width="2" stroke-linejoin="round"/>'
            )
        if dots:
            body += [
                f'<circle cx="{x:.1f}" cy="{y_of(float(v)):.1f}" r="2.5" fill="{colour}"/>'
                for x, v in zip(x_of, d["data"], strict=False)
                if v is not None
            ]
    return body


def _bars(
    datasets: list[dict[str, Any]], x_of: list[float], y_of: Callable[[float], float], slot: float
) -> list[str]:
    body = []
    bar = slot * 0.8 / max(1, len(datasets))
    for k, d in enumerate(datasets):
        colour = COLOURS[k % len(COLOURS)]
        for x, v in zip(x_of, d["data"], strict=False):
            if v is None:
                continue
            left = x - slot * 0.4 + bar * k
            y0, y1 = y_of(0.0), y_of(float(v))
            body.append(
                f'<rect x="{left:.1f}" y="{min(y0, y1):.1f}" width="{max(bar - 1, 1):.1f}" '
                f'height="{max(abs(y0 - y1), 0.5):.1f}" fill="{colour}"/>'
            )
    return body


def bars(data: dict[str, Any], title: str, *, width: int = 760) -> str:
    """Horizontal bars, one row per label, the value written at the end of its bar: the
    per-channel and per-intent comparisons (long names read better down the side)."""
    labels = [str(label) for label in data["labels"]]
    values = [None if v is None else float(v) for v in data["datasets"][0]["data"]]
    unit = data.get("unit", "")
    row, left, right = 24, min(190, int(width * 0.34)), 70
    height = row * len(labels) + 8
    top = max([0.0, *(v for v in values if v is not None)]) or 1.0
    plot_w = width - left - right
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 4 + row * i
        room = (left - 12) // 7  # characters that fit left of the bars
        short = label if len(label) <= room else label[: room - 1] + "…"
        body.append(
            f'<text x="{left - 8}" y="{y + 15}" font-size="12" text-anchor="end" '
            f'fill="#344054">{escape(short)}</text>'
        )
        if value is None:
            body.append(f'<text x="{left + 4}" y="{y + 15}" font-size="12" fill="#98a2b3">—</text>')
            continue
        w = max(value / top * plot_w, 1.0)
        body.append(
            f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" '
            f'fill="{COLOURS[0]}" rx="2"/>'
        )
        body.append(
            f'<text x="{left + w + 6:.1f}" y="{y + 15}" font-size="12" '
            f'fill="#344054">{escape(_fmt(value, unit))}</text>'
        )
    return _svg(width, height, title, body)
