"""How a dashboard value is shown: localised numbers (a comma in French), hours, percentages,
and a dash for nothing to measure."""

from __future__ import annotations

from typing import Any

from django import template
from django.http import QueryDict
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from comptoir.analytics.figures import COUNT, HOURS, SCORE, SHARE

register = template.Library()
NOTHING = "—"


def _number(value: float, digits: int) -> str:
    # number_format cuts the digits off; a figure is rounded.
    return number_format(round(value, digits), digits, force_grouping=True)


@register.filter
def cell(value: Any, kind: str) -> str:
    if value is None or value == "":
        return NOTHING
    if kind == SHARE:
        return _("%(value)s %%") % {"value": _number(value * 100, 1)}
    if kind == HOURS:
        return _("%(value)s h") % {"value": _number(value, 1)}
    if kind == SCORE:
        return _number(value, 0)
    if kind == COUNT:
        return _number(value, 0)
    return str(value)


@register.filter
def change(value: float | None, kind: str) -> str:
    """The change against the previous period, signed: points for shares."""
    if value is None:
        return NOTHING
    sign = "+" if value > 0 else ("\u2212" if value < 0 else "±")  # a true minus sign
    size = abs(value)
    if kind == SHARE:
        return _("%(sign)s%(value)s pts") % {"sign": sign, "value": _number(size * 100, 1)}
    return sign + cell(size, kind)


@register.simple_tag
def with_params(params: dict[str, str], **changes: Any) -> str:
    """The page's filters as a query string, with `changes` (None drops a key)."""
    query = QueryDict(mutable=True)
    merged = {**params, **changes}
    for key, value in merged.items():
        if value not in (None, ""):
            query[key] = str(value)
    return query.urlencode()
