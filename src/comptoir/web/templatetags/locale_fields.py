"""Day fields in the page's language: `{{ value|dayfield }}` fills one, `{% day_pattern %}` is
its placeholder (jj/mm/aaaa in French); the views read both forms (`lib.dates.parse_day`).
`{{ n|number }}` groups a count's thousands as the language does."""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils import translation
from django.utils.formats import number_format

from comptoir.lib.dates import day_format, format_day, format_moment, moment_format

register = template.Library()


@register.filter
def dayfield(value: date | str | None) -> str:
    if value is None or value == "":
        return ""
    return format_day(value, translation.get_language() or "")


@register.simple_tag
def day_pattern() -> str:
    return day_format(translation.get_language() or "")[1]


@register.filter
def number(value: object) -> object:
    """A count grouped as the language groups thousands (1 234 in French, 1,234 in English);
    anything else (a "99+", a dash) as it is. Not USE_THOUSAND_SEPARATOR: ids in URLs too would
    be grouped."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return number_format(value, force_grouping=True)


@register.filter
def momentfield(value: datetime | str | None) -> str:
    """A day and time field's value (naive, already in the user's timezone)."""
    if value is None or value == "":
        return ""
    return format_moment(value, translation.get_language() or "")


@register.simple_tag
def moment_pattern() -> str:
    return moment_format(translation.get_language() or "")[1]
