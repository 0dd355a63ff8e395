"""The response-time policy in force on each channel, and the questions others ask of it.

Other apps call: `respond_by_for(channel_id, received_at, first=...)`, `deadlines_for(...)`,
`is_business_hours(channel_id, at)`, `next_opening(channel_id, at)`, `policy_for(channel_id)`.

A channel's policy is its `SLAPolicy` row, or, without one, its marketplace's published rule
(`DEFAULTS`). Business hours come from the policy's calendar, else the shop's first calendar,
else office hours (Monday to Friday, 9:00 to 18:00) in the shop's timezone with the public
holidays of the shop's country.

Ingest asks for every message, so policies are cached per process: saving a policy, calendar,
closure, shop or channel clears this process's cache at once, and other processes reload within
CACHE_SECONDS (a miss costs a few queries per channel, never one per message).

This module sits below the inbox (which asks it for deadlines) and does not import it: what it
needs of a channel is read through `provide_channel_facts`, which the inbox calls at start-up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from comptoir.lib import businesstime
from comptoir.lib.businesstime import Calendar

CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Rule:
    """A marketplace's published response-time rule, the default of its channels."""

    first: timedelta
    next: timedelta
    business_hours: bool
    source: str | Promise  # what the rule is read from, in the user's language


H24 = timedelta(hours=24)
H48 = timedelta(hours=48)
# Calendar hours where a marketplace is not explicit: the stricter reading, so that a seller
# who keeps to it is never late by the marketplace's own count.
DEFAULTS: dict[str, Rule] = {
    "amazon": Rule(H24, H24, False, _("Amazon: answer buyer messages within 24 hours, every day")),
    "cdiscount": Rule(H48, H48, False, _("Cdiscount: answer customer messages within 48 hours")),
    "fnac": Rule(H48, H48, False, _("Fnac: answer customer messages within 48 hours")),
    "ebay": Rule(H24, H24, False, _("eBay: answer buyer questions within 24 hours")),
    "rakuten": Rule(H24, H24, False, _("Rakuten: answer buyer messages within 24 hours")),
    "shop": Rule(H24, H24, True, _("Own shop: 24 business hours")),
    # Spartoo publishes no response time for sellers: 48 calendar hours is our guess.
    "spartoo": Rule(
        H48,
        H48,
        False,
        _("Spartoo: answer buyer messages within 48 hours (a guess: no rule published)"),
    ),
}
# Channels whose pace is set by the medium rather than by a marketplace: they win over the
# marketplace's rule. A visitor on live chat waits minutes, not hours.
KIND_DEFAULTS: dict[str, Rule] = {
    "chat": Rule(
        timedelta(minutes=5), timedelta(minutes=5), True, _("Live chat: answer within 5 minutes")
    ),
}
# Mirakl operators (Darty, Boulanger, Conforama, Leroy Merlin, Carrefour) and the rest.
OTHER_MARKETPLACE = Rule(H24, H24, False, _("Marketplace: answer buyer messages within 24 hours"))


@dataclass(frozen=True)
class Policy:
    """The policy in force on one channel, resolved (defaults applied, calendar built)."""

    channel_id: int
    marketplace: str
    first_response: timedelta
    next_response: timedelta
    business_hours: bool
    calendar: Calendar
    at_risk_percent: int = 75
    auto_reply_counts: bool = False
    is_default: bool = True
    source: str | Promise = ""

    def target(self, *, first: bool) -> timedelta:
        return self.first_response if first else self.next_response

    def deadlines(self, received_at: datetime, *, first: bool) -> tuple[datetime, datetime]:
        """(respond_by, at-risk instant) for a buyer message received at `received_at`."""
        target = self.target(first=first)
        at_risk = target * self.at_risk_percent // 100
        if self.business_hours:
            try:
                return (
                    businesstime.add(self.calendar, received_at, target),
                    businesstime.add(self.calendar, received_at, at_risk),
                )
            except businesstime.NeverOpen:
                pass  # a calendar with no opening at all: count calendar time, never "never"
        return received_at + target, received_at + at_risk

    def respond_by(self, received_at: datetime, *, first: bool) -> datetime:
        return self.deadlines(received_at, first=first)[0]


@dataclass(frozen=True)
class ChannelFacts:
    """What a policy needs of its channel."""

    marketplace: str
    shop_id: int
    timezone: str  # the shop's
    country: str  # the shop's
    kind: str = ""  # the channel's connector (KIND_DEFAULTS)


ChannelFactsReader = Callable[[set[int]], dict[int, ChannelFacts]]
_channel_facts: list[ChannelFactsReader] = []


def provide_channel_facts(reader: ChannelFactsReader) -> None:
    """The inbox hands how to read its channels (InboxConfig.ready)."""
    _channel_facts[:] = [reader]


_cache: dict[int, tuple[float, Policy]] = {}
_lock = threading.Lock()


def policies_for(channel_ids: set[int] | list[int]) -> dict[int, Policy]:
    """Policies of several channels; only the ones not cached cost queries (a few in all)."""
    now = time.monotonic()
    found = {i: hit[1] for i in channel_ids if (hit := _cache.get(i)) and hit[0] > now}
    missing = set(channel_ids) - found.keys()
    if missing:
        loaded = _load(missing)
        with _lock:
            for channel_id, policy in loaded.items():
                _cache[channel_id] = (now + CACHE_SECONDS, policy)
        found.update(loaded)
    return found


def policy_for(channel_id: int) -> Policy:
    try:
        return policies_for([channel_id])[channel_id]
    except KeyError:
        raise LookupError(f"channel {channel_id} does not exist") from None


def deadlines_for(
    channel_id: int, received_at: datetime, *, first: bool = True
) -> tuple[datetime, datetime]:
    """(respond_by, at-risk instant) of a buyer message on this channel."""
    return policy_for(channel_id).deadlines(received_at, first=first)


def respond_by_for(channel_id: int, received_at: datetime, *, first: bool = True) -> datetime:
    """When a buyer message received at `received_at` must be answered (`first`: no answer
    was given in the conversation yet, so the first-response target applies)."""
    return policy_for(channel_id).respond_by(received_at, first=first)


def is_business_hours(channel_id: int, at: datetime) -> bool:
    """Whether the channel's calendar is open at `at` (rules: "out of hours" acknowledgements)."""
    return businesstime.is_open(policy_for(channel_id).calendar, at)


def next_opening(channel_id: int, at: datetime) -> datetime:
    """`at` when the channel's calendar is open then, else when it next opens."""
    return businesstime.next_opening(policy_for(channel_id).calendar, at)


def default_rule(marketplace: str, kind: str = "") -> Rule:
    return KIND_DEFAULTS.get(kind) or DEFAULTS.get(marketplace, OTHER_MARKETPLACE)


def office_calendar(timezone_name: str, country: str) -> Calendar:
    from comptoir.sla.models import OFFICE_HOURS, build_calendar

    return build_calendar(timezone_name, OFFICE_HOURS, country, "", [])


def clear_cache(**_: Any) -> None:
    with _lock:
        _cache.clear()


def _load(channel_ids: set[int]) -> dict[int, Policy]:
    from comptoir.sla.models import BusinessCalendar, SLAPolicy

    if not _channel_facts:
        raise RuntimeError("no channel facts: the inbox app provides them when Django starts")
    channels = _channel_facts[0](channel_ids)
    rows = {
        p.channel_id: p
        for p in SLAPolicy.objects.filter(channel_id__in=channel_ids).select_related("calendar")
    }
    shop_ids = {c.shop_id for c in channels.values()}
    calendars: dict[int, Any] = {}
    shop_default: dict[int, Any] = {}
    for cal in (
        BusinessCalendar.objects.filter(shop_id__in=shop_ids)
        .prefetch_related("closures")
        .order_by("id")
    ):
        calendars[cal.pk] = cal
        shop_default.setdefault(cal.shop_id, cal)
    built: dict[int, Calendar] = {}

    def calendar(row: BusinessCalendar | None, channel: ChannelFacts) -> Calendar:
        row = row if row is not None else shop_default.get(channel.shop_id)
        if row is None:
            return office_calendar(channel.timezone, channel.country)
        if row.pk not in built:
            built[row.pk] = calendars.get(row.pk, row).to_calendar()
        return built[row.pk]

    out: dict[int, Policy] = {}
    for channel_id, channel in channels.items():
        row = rows.get(channel_id)
        if row is None:
            rule = default_rule(channel.marketplace, channel.kind)
            out[channel_id] = Policy(
                channel_id=channel_id,
                marketplace=channel.marketplace,
                first_response=rule.first,
                next_response=rule.next,
                business_hours=rule.business_hours,
                calendar=calendar(None, channel),
                source=rule.source,
            )
        else:
            out[channel_id] = Policy(
                channel_id=channel_id,
                marketplace=channel.marketplace,
                first_response=row.first_response,
                next_response=row.next_response,
                business_hours=row.mode == "business",
                calendar=calendar(row.calendar, channel),
                at_risk_percent=row.at_risk_percent,
                auto_reply_counts=row.auto_reply_counts,
                is_default=False,
                source=_("Channel policy"),
            )
    return out


def connect_signals() -> None:
    """Any change that can alter a policy clears this process's cache (SlaConfig.ready).

    Model signals, not inbox hooks: a cache must forget every write at once, the admin's and a
    fixture's included, not only the changes made through actions. The inbox's models are
    named by label, as the SLA models' foreign keys name them."""
    for model in (
        "sla.SLAPolicy",
        "sla.BusinessCalendar",
        "sla.Closure",
        "inbox.Shop",
        "inbox.Channel",
    ):
        post_save.connect(clear_cache, sender=model, dispatch_uid=f"sla-policies-{model}")
        post_delete.connect(clear_cache, sender=model, dispatch_uid=f"sla-policies-del-{model}")
