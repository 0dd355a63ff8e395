"""The inbox's rows as HTML, built in Python: the hottest fragment of the agent's day (50 rows
per page, re-fetched at every live update) costs a fifth of what the template engine spent on
it. Every value is escaped here; the template shows the result as is."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from html import escape  # the same entities as Django's escape, without its lazy-string wrapper
from typing import Any

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from comptoir.inbox.display import deadline_html
from comptoir.inbox.models import Conversation, Marketplace
from comptoir.lib import intents

_MARKETPLACES = dict(Marketplace.choices)

# What the rows show (and the keyset pages sort on): loading only these skips converting a
# dozen unused dates per conversation.
ROW_FIELDS = (
    "subject",
    "snippet",
    "order_number",
    "intent",
    "urgency",
    "sentiment",
    "language",
    "needs_reply",
    "respond_by",
    "sla_state",
    "last_message_at",
    "status",
    "channel__marketplace",
    "customer__name",
    "customer__email",
    "assignee__first_name",
    "assignee__last_name",
    "assignee__username",
)
SNIPPET = 90


def _short(text: str) -> str:
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


def _intent_badge(intent: str) -> str:
    name = escape(intents.label(intent))
    title = escape(gettext("Intent: %(intent)s") % {"intent": intents.label(intent)})
    return f'<span class="intent" title="{title}">{name}</span>'


def _reading_badges() -> dict[str, str]:
    """Triage's badges in the user's language, built once per page: each intent's label, the
    urgent flag and the unhappy-buyer marker (a sign with its words for screen readers)."""
    badges = {intent: _intent_badge(intent) for intent in intents.INTENTS}
    urgent = escape(gettext("Urgent"))
    badges["urgent"] = (
        f'<span class="urgent" title="{escape(gettext("Triage reads this as urgent"))}">'
        f"{urgent}</span>"
    )
    unhappy = escape(gettext("The buyer sounds unhappy"))
    badges["negative"] = (
        f'<span class="mood-negative" title="{unhappy}" role="img" aria-label="{unhappy}">☹</span>'
    )
    return badges


def tag_names(rows: Iterable[Conversation]) -> dict[int, list[str]]:
    """Each row's tag names, from one query of (id, name) pairs: a prefetch built a Tag and
    a related manager per row, an eighth of the page's CPU."""
    out: dict[int, list[str]] = {}
    through = Conversation.tags.through
    pairs = (
        through.objects.filter(conversation_id__in=[c.pk for c in rows])
        .order_by("pk")
        .values_list("conversation_id", "tag__name")
    )
    for conv_id, name in pairs:
        out.setdefault(conv_id, []).append(name)
    return out


def render_rows(rows: list[Conversation], now: datetime) -> SafeString:
    tags = tag_names(rows)
    select, no_subject = escape(gettext("Select")), escape(gettext("(no subject)"))
    needs_reply = escape(gettext("Needs a reply"))
    reading = _reading_badges()
    out = []
    for conv in rows:
        url = escape(conv.url)  # type: ignore[attr-defined]
        customer = conv.customer
        who = (customer.name or customer.email) if customer else ""
        badges = []
        if case_badge := getattr(conv, "case_badge", ""):  # set by cases.queries, escaped
            badges.append(case_badge)
        if conv.order_number:
            badges.append(f'<span class="order">#{escape(conv.order_number)}</span>')
        if conv.urgency == "high":
            badges.insert(0, reading["urgent"])
        if conv.intent:
            badges.append(reading.get(conv.intent) or _intent_badge(conv.intent))
        if conv.sentiment == "negative":
            badges.append(reading["negative"])
        if conv.language:
            badges.append(f'<span class="lang-code">{escape(conv.language.upper())}</span>')
        badges += [f'<span class="tag">{escape(name)}</span>' for name in tags.get(conv.pk, ())]
        due = ""
        late = ""
        if conv.respond_by:
            late = " late" if conv.respond_by < now else ""
            due = deadline_html(conv.respond_by, now, conv.sla_state)
        unread = f' unread" aria-label="{needs_reply}' if conv.needs_reply else ""
        out.append(
            f'<tr class="row{unread}" data-href="{url}">'
            f'<td class="pick"><input type="checkbox" name="ids" value="{conv.pk}" form="bulk"'
            f' aria-label="{select}"></td>'
            f'<td class="mkt">{escape(str(_MARKETPLACES.get(conv.channel.marketplace, "")))}</td>'
            f"<td>{escape(who or '—')}</td>"
            f'<td><a href="{url}">{escape(conv.subject) or no_subject}</a> '
            f'<span class="snippet">{escape(_short(conv.snippet))}</span> '
            f"{' '.join(badges)}</td>"
            f'<td class="due sla-{escape(conv.sla_state)}{late}">{due}</td>'
            f"<td>{escape(conv.assignee.display_name) if conv.assignee else ''}</td></tr>\n"
        )
    return mark_safe("".join(out))


def options_html(choices: Iterable[Any], selected: str) -> SafeString:
    """A filter's <option>s from (code, name) pairs or objects with `pk` and `name`, the one
    whose code is `selected` marked: the filter bar's selects cost the template engine more
    than the rest of the inbox page."""
    out = []
    for choice in choices:
        code, name = (choice.pk, choice.name) if hasattr(choice, "pk") else choice
        code = str(code)
        mark = " selected" if code == selected else ""
        out.append(f'<option value="{escape(code)}"{mark}>{escape(str(name))}</option>')
    return mark_safe("".join(out))


def intent_options_html(groups: Iterable[tuple[str, Any]], selected: str) -> SafeString:
    """The intent filter's <optgroup>s, as `options_html` renders each group's options."""
    return mark_safe(
        "".join(
            f'<optgroup label="{escape(str(group))}">{options_html(choices, selected)}</optgroup>'
            for group, choices in groups
        )
    )


# The filter bar's selects: each one's name (its parameter) and the chrome's choices.
_SELECTS = (
    ("marketplace", "marketplaces"),
    ("channel", "channels"),
    ("shop", "shops"),
    ("status", "statuses"),
    ("assignee", "assignees"),
    ("team", "teams"),
    ("sla", "sla_states"),
    ("language", "languages"),
    ("urgency", "urgencies"),
    ("sentiment", "sentiments"),
)


def filter_selects(chrome: dict[str, Any], params: dict[str, str]) -> dict[str, SafeString]:
    """Each filter select's options as HTML, the current value selected."""
    out = {name: options_html(chrome[key], params.get(name, "")) for name, key in _SELECTS}
    out["intent"] = intent_options_html(chrome["intent_groups"], params.get("intent", ""))
    return out
