"""What the case pages read: the cases a user may see (those of the conversations they see,
`inbox.permissions.visible_conversations`), a conversation's cases, and the rows' badges."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

from django.db.models import F, QuerySet
from django.utils.translation import gettext

from comptoir.cases.models import Case, Stage
from comptoir.inbox.display import absolute_time, deadline_text
from comptoir.inbox.permissions import visible_conversations
from comptoir.inbox.prepared import PreparedValues

if TYPE_CHECKING:
    from comptoir.accounts.models import User

LIST_LIMIT = 200


def visible_cases(user: User) -> QuerySet[Case]:
    return Case.objects.filter(conversation__in=visible_conversations(user))


ANY_OPEN = "any_open"  # every stage but resolved
ALL = "all"


def filter_cases(
    qs: QuerySet[Case],
    *,
    stage: str = ANY_OPEN,
    kind: str | None = None,
    claim_kind: str | None = None,
    marketplace: str | None = None,
    deadline_before: datetime | None = None,
    conversation: int | None = None,
) -> QuerySet[Case]:
    """The one reading of the case filters, for the page and the API: `stage` is a stage,
    `any_open` or `all`; an empty or None filter keeps every case."""
    if stage == ANY_OPEN or not stage:
        qs = qs.exclude(stage=Stage.RESOLVED)
    elif stage != ALL:
        qs = qs.filter(stage=stage)
    if kind:
        qs = qs.filter(kind=kind)
    if claim_kind:
        qs = qs.filter(claim_kind=claim_kind)
    if marketplace:
        qs = qs.filter(channel__marketplace=marketplace)
    if deadline_before is not None:
        qs = qs.filter(deadline__lt=deadline_before)
    if conversation is not None:
        qs = qs.filter(conversation_id=conversation)
    return qs


def by_deadline(qs: QuerySet[Case]) -> QuerySet[Case]:
    """The nearest deadline first, those without one last."""
    return qs.order_by(F("deadline").asc(nulls_last=True), "opened_at", "pk")


def case_list(
    user: User, *, marketplace: str = "", kind: str = "", stage: str = ""
) -> QuerySet[Case]:
    """Open cases (or those of `stage`), the nearest deadline first, those without one last."""
    qs = visible_cases(user).select_related(
        "conversation", "conversation__customer", "channel", "order"
    )
    qs = filter_cases(qs, stage=stage or ANY_OPEN, marketplace=marketplace, kind=kind)
    return by_deadline(qs)[:LIST_LIMIT]


def due_html(deadline: datetime | None, now: datetime) -> str:
    """ "due in 2 d" / "overdue by 3 h" in a <time> with the date in its tooltip."""
    if deadline is None:
        return ""
    late = " late" if deadline <= now else ""
    return (
        f'<time class="case-due{late}" datetime="{deadline.isoformat()}"'
        f' title="{escape(absolute_time(deadline))}">{escape(deadline_text(deadline, now))}</time>'
    )


def _open_cases(ids: list[int]) -> QuerySet[Case, tuple[int, datetime | None]]:
    return (
        Case.objects.filter(conversation_id__in=ids)
        .exclude(stage=Stage.RESOLVED)
        .order_by(F("deadline").asc(nulls_last=True))
        .values_list("conversation_id", "deadline")
    )


# Compiled once per page size: building this query cost a tenth of the inbox page.
_OPEN_CASES = PreparedValues(_open_cases)


def set_row_badges(rows: Iterable[Any], now: datetime) -> None:
    """Give each inbox row with an open case its badge (`case_badge`): one query a page."""
    rows = list(rows)
    found: dict[int, tuple[datetime | None, Any]] = {}
    for conv_id, deadline in _OPEN_CASES.rows([c.pk for c in rows]):
        found.setdefault(conv_id, (deadline, None))
    label = escape(gettext("Case"))
    for conv in rows:
        if conv.pk not in found:
            continue
        deadline = found[conv.pk][0]
        due = f" · {due_html(deadline, now)}" if deadline else ""
        conv.case_badge = f'<span class="case-badge">{label}{due}</span>'
