"""Every change to SLA settings: policies per channel, business calendars and their closures.

Saving clears the policy cache of this process (signals in `policies`); other processes see the
change within `policies.CACHE_SECONDS`. Deadlines already set keep their value: a policy applies
to the buyer messages that arrive after it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from comptoir.accounts.permissions import can_manage_channels
from comptoir.sla.models import BusinessCalendar, Closure, Mode, SLAPolicy

if TYPE_CHECKING:
    from comptoir.accounts.models import User
    from comptoir.inbox.models import Channel, Shop

logger = logging.getLogger("comptoir.sla")


def _check(actor: User) -> None:
    if not can_manage_channels(actor):
        raise PermissionDenied("SLA settings are for owners and admins")


@transaction.atomic
def save_policy(
    channel: Channel,
    *,
    actor: User,
    first_response_minutes: int,
    next_response_minutes: int,
    mode: str,
    calendar: BusinessCalendar | None = None,
    at_risk_percent: int = 75,
    auto_reply_counts: bool = False,
) -> SLAPolicy:
    """Set the channel's own policy (replacing its marketplace's default)."""
    _check(actor)
    if mode not in Mode.values:
        raise ValidationError(f"unknown mode {mode!r} (use {', '.join(Mode.values)})")
    if calendar is not None and calendar.shop_id != channel.shop_id:
        raise ValidationError("the calendar belongs to another shop")
    policy = SLAPolicy.objects.filter(channel=channel).first() or SLAPolicy(channel=channel)
    policy.first_response_minutes = first_response_minutes
    policy.next_response_minutes = next_response_minutes
    policy.mode = mode
    policy.calendar = calendar
    policy.at_risk_percent = at_risk_percent
    policy.auto_reply_counts = auto_reply_counts
    policy.full_clean(exclude=["channel"])
    policy.save()
    logger.info("%s set the SLA policy of channel %s", actor.username, channel.pk)
    return policy


@transaction.atomic
def reset_policy(channel: Channel, *, actor: User) -> None:
    """Back to the marketplace's published rule."""
    _check(actor)
    for policy in SLAPolicy.objects.filter(channel=channel):
        policy.delete()  # one by one: the delete signal clears the cache


@transaction.atomic
def save_calendar(
    shop: Shop,
    *,
    actor: User,
    name: str,
    timezone: str,
    hours: dict[str, list[list[str]]],
    holiday_country: str = "",
    holiday_subdivision: str = "",
    calendar: BusinessCalendar | None = None,
) -> BusinessCalendar:
    """Create a calendar, or change `calendar`."""
    _check(actor)
    calendar = calendar or BusinessCalendar(shop=shop)
    calendar.name = name.strip()
    calendar.timezone = timezone
    calendar.hours = hours
    calendar.holiday_country = holiday_country.upper()
    calendar.holiday_subdivision = holiday_subdivision
    calendar.full_clean(exclude=["shop"])
    _check_calendar(calendar)
    calendar.save()
    return calendar


def _check_calendar(calendar: BusinessCalendar) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    import holidays

    try:
        ZoneInfo(calendar.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"timezone {calendar.timezone!r} is unknown") from None
    country = calendar.holiday_country
    if country and country not in holidays.list_supported_countries():
        raise ValidationError(f"no public holidays are known for country {country!r}")
    subdivisions: dict[str, Any] = holidays.list_supported_countries()
    if calendar.holiday_subdivision and calendar.holiday_subdivision not in subdivisions.get(
        country, []
    ):
        raise ValidationError(
            f"{calendar.holiday_subdivision!r} is not a subdivision of {country} "
            f"(known: {', '.join(subdivisions.get(country, [])) or 'none'})"
        )


@transaction.atomic
def add_closure(
    calendar: BusinessCalendar, *, actor: User, starts_at: datetime, ends_at: datetime, reason: str
) -> Closure:
    _check(actor)
    closure = Closure(calendar=calendar, starts_at=starts_at, ends_at=ends_at, reason=reason)
    closure.full_clean()
    closure.save()
    return closure


@transaction.atomic
def delete_closure(closure: Closure, *, actor: User) -> None:
    _check(actor)
    closure.delete()
