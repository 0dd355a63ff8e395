"""The inbox's rows as HTML, built in Python: the hottest fragment of the agent's day (50 rows
per page, re-fetched at every live update) costs a fifth of what the template engine spent on
it. Every value is escaped here; the template shows the result as is."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from html import escape  # the same entities as Django's escape, without its lazy-string wrapper
from typing import Any

from django.db.models import QuerySet
from django.db.models.query import ValuesListIterable
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from comptoir.inbox.display import DeadlineFormatter
from comptoir.inbox.models import Conversation, Marketplace
from comptoir.inbox.prepared import PreparedValues
from comptoir.lib import intents
from comptoir.lib.i18n import per_language

_MARKETPLACES = dict(Marketplace.choices)

# What the rows show (and the keyset pages sort on), read as plain values: four model
# instances per row (conversation, channel, buyer, assignee) cost a sixth of the page's CPU.
ROW_FIELDS = (
    "pk",
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


class InboxRow:
    """One conversation of the list: ROW_FIELDS as attributes (related ones as `channel__x`),
    and what the page adds (`url`, `case_badge`)."""

    __slots__ = (*ROW_FIELDS, "url", "case_badge")
    pk: int
    subject: str
    snippet: str
    order_number: str
    intent: str
    urgency: str
    sentiment: str
    language: str
    needs_reply: bool
    respond_by: datetime | None
    sla_state: str
    last_message_at: datetime | None
    status: str
    channel__marketplace: str
    customer__name: str | None
    customer__email: str | None
    assignee__first_name: str | None
    assignee__last_name: str | None
    assignee__username: str | None
    url: str
    case_badge: str

    def __init__(self, values: Sequence[Any]) -> None:
        for name, value in zip(ROW_FIELDS, values, strict=True):
            setattr(self, name, value)
        self.url = self.case_badge = ""

    @property
    def who(self) -> str:
        """The buyer's name, else their address."""
        return self.customer__name or self.customer__email or ""

    @property
    def assignee_name(self) -> str:
        """As `User.display_name`: the full name, else the username."""
        full = f"{self.assignee__first_name or ''} {self.assignee__last_name or ''}".strip()
        return full or self.assignee__username or ""


class _Rows(ValuesListIterable):
    def __iter__(self) -> Iterator[Any]:
        return map(InboxRow, super().__iter__())


def inbox_rows(qs: QuerySet[Conversation]) -> QuerySet[Any]:
    """`qs` as the list's rows (InboxRow), read as a values list: filters, order and slices
    apply as to any queryset."""
    rows = qs.values_list(*ROW_FIELDS)
    rows._iterable_class = _Rows
    return rows


def _short(text: str) -> str:
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


def _intent_badge(intent: str) -> str:
    name = escape(intents.label(intent))
    title = escape(gettext("Intent: %(intent)s") % {"intent": intents.label(intent)})
    return f'<span class="intent" title="{title}">{name}</span>'


@per_language
def _reading_badges() -> dict[str, str]:
    """Triage's badges in the user's language: each intent's label, the urgent flag and the
    unhappy-buyer marker (a sign with its words for screen readers). Fifty translations per
    page otherwise."""
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


def _tag_names(ids: list[int]) -> QuerySet[Any, tuple[int, str]]:
    through = Conversation.tags.through
    return (
        through.objects.filter(conversation_id__in=ids)
        .order_by("pk")
        .values_list("conversation_id", "tag__name")
    )


_TAG_NAMES = PreparedValues(_tag_names)


def tag_names(rows: Iterable[Any]) -> dict[int, list[str]]:
    """Each row's tag names, from one query of (id, name) pairs: a prefetch built a Tag and
    a related manager per row, an eighth of the page's CPU."""
    out: dict[int, list[str]] = {}
    for conv_id, name in _TAG_NAMES.rows([c.pk for c in rows]):
        out.setdefault(conv_id, []).append(name)
    return out


def render_rows(rows: list[InboxRow], now: datetime) -> SafeString:
    tags = tag_names(rows)
    select, no_subject = escape(gettext("Select")), escape(gettext("(no subject)"))
    needs_reply = escape(gettext("Needs a reply"))
    reading = _reading_badges()
    marketplaces = {
        k: f'<span class="mkt-label" data-mkt="{k}">{escape(str(v))}</span>'
        for k, v in _MARKETPLACES.items()
    }
    deadlines = DeadlineFormatter(now)
    out = []
    for conv in rows:
        url = escape(conv.url)
        who = conv.who
        badges = []
        if conv.case_badge:  # set by cases.queries, escaped
            badges.append(conv.case_badge)
        if conv.order_number:
            badges.append(f'<span class="order">#{escape(conv.order_number)}</span>')
        if conv.urgency == "high":
            badges.insert(0, reading["urgent"])
        if conv.intent:
            badge = reading.get(conv.intent)
            if badge is None:  # "unsure", or a code triage no longer names: kept too (a few)
                badge = _intent_badge(conv.intent)
                if len(reading) < 200:
                    reading[conv.intent] = badge
            badges.append(badge)
        if conv.sentiment == "negative":
            badges.append(reading["negative"])
        if conv.language:
            badges.append(f'<span class="lang-code">{escape(conv.language.upper())}</span>')
        badges += [f'<span class="tag">{escape(name)}</span>' for name in tags.get(conv.pk, ())]
        due = ""
        late = ""
        if conv.respond_by:
            late = " late" if conv.respond_by < now else ""
            due = deadlines.html(conv.respond_by, conv.sla_state)
        unread = f' unread" aria-label="{needs_reply}' if conv.needs_reply else ""
        out.append(
            f'<tr class="row{unread}" data-href="{url}">'
            f'<td class="pick"><input type="checkbox" name="ids" value="{conv.pk}" form="bulk"'
            f' aria-label="{select}"></td>'
            f'<td class="mkt">{marketplaces.get(conv.channel__marketplace, "")}</td>'
            f"<td>{escape(who or '—')}</td>"
            f'<td><a href="{url}">{escape(conv.subject) or no_subject}</a> '
            f'<span class="snippet">{escape(_short(conv.snippet))}</span> '
            f"{' '.join(badges)}</td>"
            f'<td class="due sla-{escape(conv.sla_state)}{late}">{due}</td>'
            f"<td>{escape(conv.assignee_name)}</td></tr>\n"
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
