"""The report's own formats: the dashboards' (`analytics` tags), and a number with one
decimal (messages per conversation, conversations per 100 orders)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.formats import number_format

from comptoir.analytics.report_parts import DECIMAL
from comptoir.analytics.templatetags.analytics import NOTHING, cell, change

register = template.Library()


@register.filter
def rcell(value: Any, kind: str) -> str:
    if kind == DECIMAL:
        if value is None:
            return NOTHING
        return number_format(round(value, 1), 1, force_grouping=True)
    return cell(value, kind)


@register.filter
def rchange(value: float | None, kind: str) -> str:
    if kind == DECIMAL and value is not None:
        sign = "+" if value > 0 else ("\u2212" if value < 0 else "±")
        return sign + rcell(abs(value), kind)
    return change(value, kind)
