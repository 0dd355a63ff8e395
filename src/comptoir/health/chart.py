"""The trend of one metric as a small inline SVG, drawn by the analytics report's charts
(`comptoir.analytics.svg`): the weekly figure and its threshold, in percent."""

from __future__ import annotations

from django.utils import formats
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from comptoir.analytics import svg
from comptoir.health.report import Card


def trend_svg(card: Card) -> SafeString:
    values = [None if v is None else round(v * 100, 2) for _at, v in card.trend]
    data = {
        "type": "line",
        "unit": "share",
        "labels": [formats.date_format(at, "d/m") for at, _v in card.trend],
        "datasets": [
            {"label": card.name, "data": values},
            {"label": gettext("Threshold"), "data": [round(card.threshold * 100, 2)] * len(values)},
        ],
    }
    # `svg.columns` escapes every text it writes.
    return mark_safe(svg.columns(data, card.name, width=360, height=150))
