"""Dates as marketplaces send them."""

from __future__ import annotations

from datetime import UTC, datetime
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
