"""eBay's timestamps, as its APIs write them (ISO 8601 in UTC, milliseconds, a Z)."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def ebay_time(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )
