"""The dashboards' filters, read from the URL: a period (7d, 30d, 90d, 365d, or from/to dates),
a shop, a channel, a marketplace, a team, an assignee. A malformed filter is refused
(`BadFilter`, with a message in the reader's language; the page shows it in place of the
figures, answered 400) rather than silently dropped: a figure shown for another scope than the
one asked would mislead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir.accounts.models import Team, User
from comptoir.analytics.period import Filters, Period
from comptoir.inbox.models import Channel, Marketplace, Shop
from comptoir.lib.dates import parse_day

PRESETS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}
DEFAULT_PRESET = "30d"
MAX_DAYS = 3 * 366  # a longer custom range would only be slow
# The URL's keys, kept in the links between pages and in the downloads.
FILTER_KEYS = ("period", "from", "to", "shop", "channel", "marketplace", "team", _("assignee"))


class BadFilter(ValueError):
    """A filter in the URL that does not parse or names nothing."""


@dataclass(frozen=True)
class Chosen:
    """What the URL asked, as the pages show it and pass it on."""

    period: Period
    previous: Period
    filters: Filters
    preset: str  # "" for a from/to range
    start_day: date
    end_day: date  # inclusive, as the person typed it
    params: dict[str, str]  # the filters to keep in the links (tabs, CSV)


def _id(raw: str, model: Any, name: str) -> int | None:
    if raw == "":
        return None
    if not (raw.isdigit() and len(raw) < 10):
        raise BadFilter(_("%(name)s: “%(value)s” is not an id") % {"name": name, "value": raw})
    if not model.objects.filter(pk=int(raw)).exists():
        raise BadFilter(
            _("%(name)s: there is none with id %(value)s") % {"name": name, "value": raw}
        )
    return int(raw)


def _not_one_of(name: str, raw: str, choices: Any) -> str:
    message = _("%(name)s: “%(value)s” is not one of %(choices)s")
    return message % {"name": name, "value": raw, "choices": ", ".join(choices)}


def _marketplace(raw: str) -> str | None:
    if raw == "":
        return None
    if raw not in Marketplace.values:
        raise BadFilter(_not_one_of(_("marketplace"), raw, Marketplace.values))
    return raw


def _day(raw: str, name: str) -> date:
    try:
        return parse_day(raw)
    except ValueError:
        message = _("%(name)s: “%(value)s” is not a date (YYYY-MM-DD)")
        raise BadFilter(message % {"name": name, "value": raw}) from None


def _period(query: QueryDict, now: datetime) -> tuple[Period, str, date, date]:
    start_raw, end_raw = query.get("from", ""), query.get("to", "")
    if start_raw or end_raw:
        if not (start_raw and end_raw):
            raise BadFilter(_("from and to go together"))
        first, last = _day(start_raw, _("start date")), _day(end_raw, _("end date"))
        if last < first or (last - first).days >= MAX_DAYS:
            raise BadFilter(_("to must follow from, within three years"))
        zone = timezone.get_current_timezone()
        start = datetime.combine(first, time.min, zone)
        end = datetime.combine(last + timedelta(days=1), time.min, zone)
        return Period(start, end), "", first, last
    preset = query.get("period", "") or DEFAULT_PRESET
    if preset not in PRESETS:
        raise BadFilter(_not_one_of(_("period"), preset, PRESETS))
    period = Period.last(PRESETS[preset], now=now)
    local = timezone.localtime
    return period, preset, local(period.start).date(), local(period.end).date()


def parse(query: QueryDict, now: datetime | None = None) -> Chosen:
    """The filters of a dashboard URL; `BadFilter` when one is malformed."""
    period, preset, first, last = _period(query, now or timezone.now())
    filters = Filters(
        shop_id=_id(query.get("shop", ""), Shop, _("shop")),
        channel_id=_id(query.get("channel", ""), Channel, _("channel")),
        team_id=_id(query.get("team", ""), Team, _("team")),
        marketplace=_marketplace(query.get("marketplace", "")),
        assignee_id=_id(query.get("assignee", ""), User, _("assignee")),
    )
    length = period.end - period.start
    params = {key: str(query.get(key, "")) for key in FILTER_KEYS if query.get(key)}
    return Chosen(
        period=period,
        previous=Period(period.start - length, period.start),
        filters=filters,
        preset=preset,
        start_day=first,
        end_day=last,
        params=params,
    )
