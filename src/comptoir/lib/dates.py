"""Dates as marketplaces send them, and days as people type them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any


def parse_iso(value: Any) -> datetime | None:
    """An ISO 8601 date-time ("Z" allowed) as an aware datetime, UTC when it names no offset;
    None for anything else (absent, empty, not a string, not a date)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# Days typed by people: a text field in the page's language's order (a native date field follows
# the browser's locale, not the page's, so a French page read in an English browser showed
# mm/dd/yyyy). ISO is always accepted too (links, saved views, the API).
_DAY_FORMATS = {"fr": ("%d/%m/%Y", "jj/mm/aaaa")}
_ISO_DAY = ("%Y-%m-%d", "yyyy-mm-dd")
# A slash form is always day first: no language here writes month first.
_SLASHED = re.compile(r"\s*(\d{1,2})[/.](\d{1,2})[/.](\d{4})\s*")


def day_format(language: str) -> tuple[str, str]:
    """(strftime format, the pattern shown to the user) for a language code."""
    return _DAY_FORMATS.get((language or "").split("-")[0].lower(), _ISO_DAY)


def parse_day(text: str) -> date:
    """A day typed as yyyy-mm-dd or dd/mm/yyyy (dd.mm.yyyy); ValueError for anything else."""
    if match := _SLASHED.fullmatch(text):
        day, month, year = (int(part) for part in match.groups())
        return date(year, month, day)
    return date.fromisoformat(text.strip())


def format_day(value: date | str, language: str) -> str:
    """A day as the language writes it in a day field; text that is not a day is kept as is
    (the field shows what was typed, beside its error)."""
    day = value
    if isinstance(value, str):
        try:
            day = parse_day(value)
        except ValueError:
            return value
    assert isinstance(day, date)
    return day.strftime(day_format(language)[0])
