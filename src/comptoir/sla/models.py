"""SLA settings: business calendars and the response-time policy of each channel.

A channel without a policy row follows its marketplace's published rule (see
`comptoir.sla.policies.DEFAULTS`). Changed only through `comptoir.sla.actions`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from comptoir.lib import businesstime

# {"0": [["09:00", "18:00"]], ...}: Monday is "0"; a weekday missing or empty is closed.
OFFICE_HOURS: dict[str, list[list[str]]] = {str(d): [["09:00", "18:00"]] for d in range(5)}


def default_hours() -> dict[str, list[list[str]]]:
    return {k: [list(i) for i in v] for k, v in OFFICE_HOURS.items()}


def validate_hours(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError("opening hours must map weekdays (0 = Monday) to intervals")
    for day, intervals in value.items():
        if day not in {str(d) for d in range(7)}:
            raise ValidationError(f"unknown weekday {day!r} (0 = Monday ... 6 = Sunday)")
        for interval in intervals:
            try:
                start, end = interval
                s, e = businesstime.minutes(start), businesstime.minutes(end, end=True)
            except (TypeError, ValueError):
                raise ValidationError(f"bad interval {interval!r} (use 09:00-18:00)") from None
            if not 0 <= s < e <= businesstime.DAY_MINUTES:
                raise ValidationError(f"interval {start}-{end} must end after it starts")


class BusinessCalendar(models.Model):
    """Opening hours in a timezone, a country's public holidays and exceptional closures."""

    shop = models.ForeignKey(
        "inbox.Shop", on_delete=models.CASCADE, related_name="business_calendars"
    )
    name = models.CharField(max_length=100)
    timezone = models.CharField(max_length=64, default="Europe/Paris")
    hours = models.JSONField(default=default_hours, validators=[validate_hours])
    holiday_country = models.CharField(max_length=2, blank=True, default="FR")
    holiday_subdivision = models.CharField(max_length=16, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shop", "name"], name="calendar_unique_shop_name")
        ]

    def __str__(self) -> str:
        return self.name

    def to_calendar(self, around: datetime | None = None) -> businesstime.Calendar:
        """The plain value the arithmetic works on, with holidays for the years around
        `around` (this year by default) and the closures (prefetched when listed)."""
        return build_calendar(
            self.timezone,
            self.hours,
            self.holiday_country,
            self.holiday_subdivision,
            [(c.starts_at, c.ends_at) for c in self.closures.all()],
            around,
        )


def build_calendar(
    timezone: str,
    hours: dict[str, list[list[str]]],
    country: str,
    subdivision: str,
    closures: list[tuple[datetime, datetime]],
    around: datetime | None = None,
) -> businesstime.Calendar:
    from django.utils import timezone as dj_timezone

    year = (around or dj_timezone.now()).year
    week = {int(d): [(s, e) for s, e in intervals] for d, intervals in hours.items()}
    return businesstime.Calendar.weekly(
        timezone,
        week,
        holidays=businesstime.public_holidays(country, subdivision, range(year - 1, year + 3)),
        closures=closures,
    )


class Closure(models.Model):
    """An exceptional closure: inventory day, a bridge day, a strike."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="closures"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["starts_at"]

    def __str__(self) -> str:
        return f"{self.reason or 'closed'} {self.starts_at:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        if self.ends_at <= self.starts_at:
            raise ValidationError("a closure must end after it starts")


class Mode(models.TextChoices):
    CALENDAR = "calendar", _("Calendar hours")
    BUSINESS = "business", _("Business hours")


class SLAPolicy(models.Model):
    """How fast a channel's buyers must be answered: the first time, and every next time."""

    channel = models.OneToOneField(
        "inbox.Channel", on_delete=models.CASCADE, related_name="sla_policy"
    )
    first_response_minutes = models.PositiveIntegerField(default=24 * 60)
    next_response_minutes = models.PositiveIntegerField(default=24 * 60)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.CALENDAR)
    # Business mode counts this calendar's open hours; None: the shop's default calendar.
    calendar = models.ForeignKey(
        BusinessCalendar, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at_risk_percent = models.PositiveSmallIntegerField(default=75)
    # Whether an acknowledgement sent by a rule stops the clock (the marketplaces say no).
    auto_reply_counts = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return f"SLA of channel {self.channel_id}"

    def clean(self) -> None:
        if not 1 <= self.at_risk_percent <= 99:
            raise ValidationError("the at-risk share is a percentage between 1 and 99")
        if not self.first_response_minutes or not self.next_response_minutes:
            raise ValidationError("a response target must be longer than zero")

    @property
    def first_response(self) -> timedelta:
        return timedelta(minutes=self.first_response_minutes)

    @property
    def next_response(self) -> timedelta:
        return timedelta(minutes=self.next_response_minutes)
