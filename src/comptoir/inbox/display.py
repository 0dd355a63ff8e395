"""What the pages say about a conversation in words: its respond-by deadline ("overdue by 3 h",
"due in 40 min", with the absolute time in the user's timezone) and what each timeline event
changed. Shared by the inbox rows (page and live refresh) and the conversation page."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from html import escape
from typing import Any

from django.utils import dateformat, timezone
from django.utils.formats import date_format, get_format
from django.utils.translation import get_language, gettext, ngettext, pgettext_lazy

from comptoir.inbox.models import Event, EventKind, Priority, SLAState, Status
from comptoir.lib import cases, intents

MINUTE, HOUR, DAY = 60, 3600, 86400


def duration_text(delta: timedelta) -> str:
    """A short, rounded-down length of time: "40 min", "3 h", "2 d" (at least a minute), the
    number and its unit never split over two lines."""
    return _duration_text(*_duration_unit(delta))


def _duration_unit(delta: timedelta) -> tuple[str, int]:
    seconds = max(int(abs(delta.total_seconds())), MINUTE)
    if seconds < HOUR:
        return "min", seconds // MINUTE
    if seconds < 2 * DAY:
        return "h", seconds // HOUR
    return "d", seconds // DAY


def _duration_text(unit: str, n: int) -> str:
    # Plural forms even for the abbreviations: a language may inflect its unit ("1 Tag").
    if unit == "min":
        text = ngettext("%(n)d min", "%(n)d min", n) % {"n": n}
    elif unit == "h":
        text = ngettext("%(n)d h", "%(n)d h", n) % {"n": n}
    else:
        text = ngettext("%(n)d d", "%(n)d d", n) % {"n": n}
    return text.replace(" ", "\xa0")


def deadline_text(respond_by: datetime, now: datetime) -> str:
    """How late the answer is, or how long is left: never "0 minutes" for a late one."""
    if respond_by <= now:
        return gettext("overdue by %(time)s") % {"time": duration_text(now - respond_by)}
    return gettext("due in %(time)s") % {"time": duration_text(respond_by - now)}


def absolute_time(at: datetime) -> str:
    """The date and time in the user's timezone and language (accounts.middleware)."""
    return date_format(timezone.localtime(at), "DATETIME_FORMAT")


def deadline_html(respond_by: datetime, now: datetime, state: str) -> str:
    """The relative deadline in a <time>, the absolute one in its tooltip; a coloured badge
    (no glyph: one missing from a font shows as a box) names an at-risk or missed deadline."""
    return DeadlineFormatter(now).html(respond_by, state)


class DeadlineFormatter:
    """`deadline_html` for a page of rows: what is translated (the phrases, each duration,
    the badges) is looked up once per page instead of a dozen times per row."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.overdue = gettext("overdue by %(time)s")
        self.due = gettext("due in %(time)s")
        self.durations: dict[tuple[str, int], str] = {}
        self.badges: dict[str, str] = {}
        self.format = get_format("DATETIME_FORMAT")
        self.zone = timezone.get_current_timezone()
        self.language = get_language()

    def duration(self, delta: timedelta) -> str:
        key = _duration_unit(delta)
        if (text := self.durations.get(key)) is None:
            text = self.durations[key] = _duration_text(*key)
        return text

    def badge(self, state: str) -> str:
        if state not in (SLAState.AT_RISK, SLAState.BREACHED):
            return ""
        if (html := self.badges.get(state)) is None:
            label = escape(str(SLAState(state).label))
            html = self.badges[state] = (
                f'<span class="sla-badge sla-{state}" role="img" aria-label="{label}"'
                f' title="{label}"></span>'
            )
        return html

    def html(self, respond_by: datetime, state: str) -> str:
        now = self.now
        if respond_by <= now:
            text = self.overdue % {"time": self.duration(now - respond_by)}
        else:
            text = self.due % {"time": self.duration(respond_by - now)}
        absolute = _absolute(respond_by, self.zone, self.format, self.language)
        return (
            f'{self.badge(state)}<time datetime="{respond_by.isoformat()}" title="{absolute}">'
            f"{escape(text)}</time>"
        )


@lru_cache(maxsize=4096)
def _absolute(at: datetime, zone: tzinfo, format_: str, language: str | None) -> str:
    """A deadline in words of the language (month names), kept per process: the same rows come
    back at each refresh of the inbox, and formatting was a tenth of its CPU."""
    return escape(dateformat.format(at.astimezone(zone), format_))


# The status's own label is shared with the views' names ("Resolved" is plural in French).
_STATUS_LABELS = {Status.RESOLVED: pgettext_lazy("conversation status", "Resolved")}


def _label(choices: type[Status] | type[Priority], value: Any) -> str:
    if value in _STATUS_LABELS:
        return str(_STATUS_LABELS[value])
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


def choice_label(choices: type[Status] | type[Priority], value: Any) -> str:
    """A status's or priority's name as the pages show it (the action bar's confirmations)."""
    return _label(choices, value)


def _team_names(events: list[Event]) -> dict[int, str]:
    from comptoir.accounts.models import Team

    ids: set[int | None] = {
        e.data.get(key)
        for e in events
        if e.kind == EventKind.ASSIGNED and isinstance(e.data, dict)
        for key in ("team", "previous_team")
    }
    named = [i for i in ids if i is not None]
    return dict(Team.objects.filter(pk__in=named).values_list("pk", "name")) if named else {}


def _data_text(kind: str, data: dict[str, Any]) -> str:
    """The events told from their data alone: a reading ("Intent: Refund"), a tag, a merge."""
    if kind.startswith("case_"):
        return cases.event_text(kind, data)
    if kind == EventKind.INTENT_SET and data.get("intent"):
        return gettext("Intent: %(intent)s") % {"intent": intents.label(data["intent"])}
    if kind == EventKind.URGENCY_SET and data.get("urgency") in intents.URGENCIES:
        return gettext("Urgency: %(urgency)s") % {"urgency": intents.URGENCIES[data["urgency"]]}
    match kind:
        case EventKind.TAGGED if data.get("tag"):
            return gettext("Tagged “%(tag)s”") % {"tag": data["tag"]}
        case EventKind.UNTAGGED if data.get("tag"):
            return gettext("Tag “%(tag)s” removed") % {"tag": data["tag"]}
        case EventKind.MERGED if data.get("merged_from"):
            return gettext("Merged from #%(number)s") % {"number": data["merged_from"]}
        case EventKind.MERGED if data.get("merged_into"):
            return gettext("Merged into #%(number)s") % {"number": data["merged_into"]}
        # A receipt from the buyer's app (Messenger, Instagram, WhatsApp).
        case EventKind.DELIVERED if data.get("status") == "delivered":
            return gettext("Reply delivered to the buyer")
        case EventKind.DELIVERED if data.get("status") == "read":
            return gettext("Reply read by the buyer")
        case EventKind.SURVEY_ANSWERED if isinstance(data.get("score"), int):
            top = 5 if data.get("kind") == "csat" else 10
            return gettext("Survey answered: %(score)s/%(top)s") % {
                "score": data["score"],
                "top": top,
            }
    return ""


def event_text(event: Event, teams: dict[int, str]) -> str:
    """What the event changed, in the user's language ("Assigned to Camille Dubois")."""
    data = event.data if isinstance(event.data, dict) else {}
    if told := _data_text(event.kind, data):
        return told
    match event.kind:
        case EventKind.ASSIGNED if data.get("assignee_name"):
            return gettext("Assigned to %(name)s") % {"name": data["assignee_name"]}
        case EventKind.ASSIGNED if "team" in data:
            if data["team"] is None:
                return gettext("Removed from its team")
            name = teams.get(data["team"], f"#{data['team']}")
            if data.get("previous_team") is not None:
                before = teams.get(data["previous_team"], f"#{data['previous_team']}")
                return gettext("Team: %(old)s → %(new)s") % {"old": before, "new": name}
            return gettext("Given to team %(name)s") % {"name": name}
        case EventKind.STATUS_CHANGED if data.get("status"):
            status = _label(Status, data["status"])
            if data.get("previous"):  # older events did not keep it
                return gettext("Status: %(old)s → %(new)s") % {
                    "old": _label(Status, data["previous"]),
                    "new": status,
                }
            return gettext("Status changed to %(status)s") % {"status": status}
        case EventKind.PRIORITY_CHANGED if data.get("priority") is not None:
            priority = _label(Priority, data["priority"])
            if data.get("previous") is not None:
                return gettext("Priority: %(old)s → %(new)s") % {
                    "old": _label(Priority, data["previous"]),
                    "new": priority,
                }
            return gettext("Priority changed to %(priority)s") % {"priority": priority}
        case EventKind.SNOOZED if data.get("until"):
            until = datetime.fromisoformat(data["until"])
            return gettext("Snoozed until %(time)s") % {"time": absolute_time(until)}
    return str(event.get_kind_display())


def event_author(event: Event) -> str:
    """Who made the change: "by Paul Martin", "by a rule", or nothing (the system, ingest)."""
    if event.actor is not None:
        return gettext("by %(name)s") % {"name": event.actor.display_name}
    if event.actor_label.startswith("rule:"):
        return gettext("by a rule")
    return ""


def describe_events(events: Iterable[Event]) -> None:
    """Set each event's `summary` and `author` (one query for the teams named, whatever the
    count; the actors are the caller's select_related)."""
    events = list(events)
    teams = _team_names(events)
    for event in events:
        event.summary = event_text(event, teams)  # type: ignore[attr-defined]
        event.author = event_author(event)  # type: ignore[attr-defined]
