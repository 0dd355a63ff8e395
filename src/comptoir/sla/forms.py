"""Forms of the SLA settings page: a channel's policy, a calendar, a closure."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django import forms
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from comptoir.lib import dates
from comptoir.lib.businesstime import WEEKDAYS
from comptoir.sla.models import BusinessCalendar, Mode

# A context of their own: the plain weekday names are Django's (lower case in French dates).
WEEKDAY_LABELS = [
    pgettext_lazy("opening hours", "Monday"),
    pgettext_lazy("opening hours", "Tuesday"),
    pgettext_lazy("opening hours", "Wednesday"),
    pgettext_lazy("opening hours", "Thursday"),
    pgettext_lazy("opening hours", "Friday"),
    pgettext_lazy("opening hours", "Saturday"),
    pgettext_lazy("opening hours", "Sunday"),
]
_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class PolicyForm(forms.Form):
    first_response_hours = forms.DecimalField(
        label=_("First response within (hours)"), min_value=0.25, max_digits=6, decimal_places=2
    )
    next_response_hours = forms.DecimalField(
        label=_("Next responses within (hours)"), min_value=0.25, max_digits=6, decimal_places=2
    )
    mode = forms.ChoiceField(label=_("Counted in"), choices=Mode.choices)
    calendar = forms.ModelChoiceField(
        label=_("Calendar"),
        queryset=BusinessCalendar.objects.none(),
        required=False,
        empty_label=_("the shop's default"),
    )
    at_risk_percent = forms.IntegerField(label=_("At risk after (%)"), min_value=1, max_value=99)
    auto_reply_counts = forms.BooleanField(label=_("An auto-reply counts"), required=False)

    def __init__(self, *args: Any, shop_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["calendar"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = BusinessCalendar.objects.filter(shop_id=shop_id).order_by("name")


def hours_to_text(intervals: list[list[str]]) -> str:
    return ", ".join(f"{start}-{end}" for start, end in intervals)


def text_to_hours(text: str) -> list[list[str]]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _INTERVAL.match(part)
        if not match:
            raise forms.ValidationError(
                _("%(part)s: write opening hours as 09:00-12:00, 14:00-18:00"),
                params={"part": part},
            )
        h1, m1, h2, m2 = match.groups()
        out.append([f"{int(h1):02d}:{m1}", f"{int(h2):02d}:{m2}"])
    return out


class CalendarForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    timezone = forms.CharField(label=_("Timezone"), max_length=64, initial="Europe/Paris")
    holiday_country = forms.CharField(
        label=_("Public holidays of (country code)"), max_length=2, required=False, initial="FR"
    )
    holiday_subdivision = forms.CharField(
        label=_("Region (optional)"), max_length=16, required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for day, label in zip(WEEKDAYS, WEEKDAY_LABELS, strict=True):
            self.fields[f"hours_{day}"] = forms.CharField(
                label=label, required=False, help_text=_("e.g. 09:00-12:00, 14:00-18:00")
            )

    @classmethod
    def for_calendar(cls, calendar: BusinessCalendar, **kwargs: Any) -> CalendarForm:
        initial: dict[str, Any] = {
            "name": calendar.name,
            "timezone": calendar.timezone,
            "holiday_country": calendar.holiday_country,
            "holiday_subdivision": calendar.holiday_subdivision,
        }
        for index, day in enumerate(WEEKDAYS):
            initial[f"hours_{day}"] = hours_to_text(calendar.hours.get(str(index), []))
        return cls(initial=initial, prefix=f"cal{calendar.pk}", **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        hours: dict[str, list[list[str]]] = {}
        for index, day in enumerate(WEEKDAYS):
            try:
                intervals = text_to_hours(data.get(f"hours_{day}", ""))
            except forms.ValidationError as exc:
                self.add_error(f"hours_{day}", exc)
                continue
            if intervals:
                hours[str(index)] = intervals
        data["hours"] = hours
        return data

    def weekday_fields(self) -> list[forms.BoundField]:
        return [self[f"hours_{day}"] for day in WEEKDAYS]


class MomentInput(forms.TextInput):
    """A day and time typed as the page's language writes it (jj/mm/aaaa hh:mm in French), as
    the snooze and the case deadline fields: the browser's own picker follows the browser's
    locale, not the page's (mm/dd/yyyy in a French page)."""

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        language = translation.get_language() or ""
        attrs = {
            **(attrs or {}),
            "class": "moment",
            "placeholder": dates.moment_format(language)[1],
            "inputmode": "numeric",
            "autocomplete": "off",
            "size": "16",
        }
        return super().get_context(name, value, attrs)

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, datetime):
            value = timezone.localtime(value) if timezone.is_aware(value) else value
            return dates.format_moment(value, translation.get_language() or "")
        return None if value in (None, "") else str(value)


class MomentField(forms.DateTimeField):
    """Reads dd/mm/yyyy hh:mm and ISO (`lib.dates.parse_moment`), in the current timezone."""

    widget = MomentInput

    def to_python(self, value: Any) -> datetime | None:
        if isinstance(value, datetime) or value in (None, ""):
            return super().to_python(value)
        try:
            moment = dates.parse_moment(str(value))
        except ValueError:
            raise forms.ValidationError(
                _("Write a day and a time as %(pattern)s."),
                params={"pattern": dates.moment_format(translation.get_language() or "")[1]},
                code="invalid",
            ) from None
        return timezone.make_aware(moment)


class ClosureForm(forms.Form):
    starts_at = MomentField(label=_("Closed from"))
    ends_at = MomentField(label=_("until"))
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)
