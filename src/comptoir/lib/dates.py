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


# A day and a time (a snooze, a case's deadline), the same way: "dd/mm/yyyy hh:mm" in French,
# "yyyy-mm-dd hh:mm" otherwise, ISO with its "T" always read.
_MOMENT_PATTERNS = {"fr": "jj/mm/aaaa hh:mm"}
_SLASHED_MOMENT = re.compile(
    r"\s*(\d{1,2}[/.]\d{1,2}[/.]\d{4})\s*(?:,|à|at)?\s*(\d{1,2})[:h](\d{2})\s*", re.IGNORECASE
)


def moment_format(language: str) -> tuple[str, str]:
    """(strftime format, the pattern shown) of a day and time field for a language code."""
    code = (language or "").split("-")[0].lower()
    return day_format(code)[0] + " %H:%M", _MOMENT_PATTERNS.get(code, "yyyy-mm-dd hh:mm")


def parse_moment(text: str) -> datetime:
    """A naive day and time typed as dd/mm/yyyy hh:mm (14h30 too) or ISO (with a T or a space);
    ValueError for anything else, a day without its time included."""
    if match := _SLASHED_MOMENT.fullmatch(text):
        day = parse_day(match.group(1))
        return datetime(day.year, day.month, day.day, int(match.group(2)), int(match.group(3)))
    stripped = text.strip()
    if len(stripped) < len("yyyy-mm-dd hh:mm"):
        raise ValueError(f"no time in {text!r}")
    return datetime.fromisoformat(stripped)


def format_moment(value: datetime | str, language: str) -> str:
    """A naive day and time as the language writes it; text that is not one is kept as is."""
    moment = value
    if isinstance(value, str):
        try:
            moment = parse_moment(value)
        except ValueError:
            return value
    assert isinstance(moment, datetime)
    return moment.strftime(moment_format(language)[0])
