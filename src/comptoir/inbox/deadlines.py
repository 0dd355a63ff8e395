"""Default respond-by deadlines per marketplace, in calendar hours.

The SLA app replaces this with per-channel policies and business calendars; until then the
inbox is still ordered by the marketplaces' published limits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

DEFAULT_HOURS: dict[str, int] = {
    "amazon": 24,
    "cdiscount": 48,
    "fnac": 48,
}
FALLBACK_HOURS = 24


def default_respond_by(marketplace: str, received_at: datetime) -> datetime:
    return received_at + timedelta(hours=DEFAULT_HOURS.get(marketplace, FALLBACK_HOURS))
