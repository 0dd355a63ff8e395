"""`{% case_panel conv can_write %}`: the conversation page's case section (one query)."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import QuerySet
from django.utils import timezone

from comptoir.cases.models import Case, Stage
from comptoir.cases.queries import due_html
from comptoir.inbox.prepared import Prepared
from comptoir.lib import cases as words

register = template.Library()


def _any_case(conv: int) -> QuerySet[Case]:
    return Case.objects.filter(conversation_id=conv).only("pk")[:1]


_ANY = Prepared(_any_case, "conv")


@register.inclusion_tag("cases/_panel_body.html")
def case_panel(conv: Any, can_write: bool) -> dict[str, Any]:
    now = timezone.now()
    # Most conversations have no case: a prepared look-up says so without building a query.
    cases: list[Any] = []  # given their due date and form currency below
    if _ANY.all(conv=conv.pk):
        cases = list(conv.cases.select_related("order").order_by("-pk"))
    cases.sort(key=lambda c: (not c.is_open, -c.pk))
    for case in cases:
        case.due = due_html(case.deadline, now) if case.is_open else ""
        case.form_currency = case.currency or (case.order.currency if case.order else "") or "EUR"
    return {
        "conv": conv,
        "cases": cases,
        "can_write": can_write,
        "kinds": list(words.KINDS.items()),
        "stages": Stage.choices,
        "outcomes": list(words.OUTCOMES.items()),
        "has_open": any(c.is_open for c in cases),
    }
