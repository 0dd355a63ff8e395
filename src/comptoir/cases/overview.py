"""The case list's overview: open cases counted per marketplace and per kind (each count under
the page's other filters, so that a click narrows what is shown), and the rows grouped by
deadline (overdue, within a day, within a week, later, none), by marketplace or by kind."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, QuerySet
from django.utils.translation import gettext_lazy as _

from comptoir.cases.models import Case
from comptoir.cases.queries import filter_cases
from comptoir.inbox.models import Marketplace
from comptoir.lib import cases as words

GROUPS = {
    "deadline": _("By deadline"),
    "marketplace": _("By marketplace"),
    "kind": _("By kind"),
}
DEADLINE_BUCKETS = [
    ("overdue", _("Overdue")),
    ("day", _("Due within 24 hours")),
    ("week", _("Due within a week")),
    ("later", _("Due later")),
    ("none", _("No deadline")),
]


@dataclass
class Group:
    key: str
    title: str
    cases: list[Case] = field(default_factory=list)


@dataclass(frozen=True)
class Facet:
    value: str
    label: str
    count: int


def facets(
    visible: QuerySet[Case], *, marketplace: str, kind: str, stage: str
) -> dict[str, list[Facet]]:
    """Counts per marketplace (under the kind and stage chosen) and per kind (under the
    marketplace and stage chosen): two aggregate queries, whatever the number of cases."""
    base = filter_cases(visible, stage=stage)
    by_market = base.filter(kind=kind) if kind else base
    by_kind = base.filter(channel__marketplace=marketplace) if marketplace else base
    names = dict(Marketplace.choices)
    markets = [
        Facet(r["channel__marketplace"], str(names.get(r["channel__marketplace"], "?")), r["n"])
        for r in by_market.values("channel__marketplace")
        .annotate(n=Count("pk"))
        .order_by("-n", "channel__marketplace")
    ]
    kinds = [
        Facet(r["kind"], words.kind_label(r["kind"]), r["n"])
        for r in by_kind.values("kind").annotate(n=Count("pk")).order_by("-n", "kind")
    ]
    return {"marketplaces": markets, "kinds": kinds}


def _bucket(case: Case, now: datetime) -> str:
    if case.deadline is None:
        return "none"
    if case.deadline <= now:
        return "overdue"
    if case.deadline <= now + timedelta(days=1):
        return "day"
    if case.deadline <= now + timedelta(days=7):
        return "week"
    return "later"


def grouped(cases: Iterable[Case], by: str, now: datetime) -> list[Group]:
    """The rows (already in deadline order) in groups, the empty ones left out."""
    key: Callable[[Case], str]
    titles: dict[str, Any]
    if by == "marketplace":
        names = dict(Marketplace.choices)
        key, titles = (lambda c: c.channel.marketplace), names
        order: list[str] = []
    elif by == "kind":
        key, titles, order = (lambda c: c.kind), dict(words.KINDS), list(words.KINDS)
    else:
        key, titles = (lambda c: _bucket(c, now)), dict(DEADLINE_BUCKETS)
        order = [k for k, _label in DEADLINE_BUCKETS]
    found: dict[str, Group] = {}
    for case in cases:
        k = key(case)
        if k not in found:
            found[k] = Group(k, str(titles.get(k, k)))
        found[k].cases.append(case)
    if order:
        return [found[k] for k in order if k in found]
    return sorted(found.values(), key=lambda g: (-len(g.cases), g.title))
