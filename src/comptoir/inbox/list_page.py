"""The inbox list's page of rows, its SQL kept per process for each first page.

Building the list's queryset (the user's teams, the view, the filters, the order) and compiling
it to SQL cost the ORM about 3 ms a request at any scale, a quarter of the inbox page's CPU; the
query itself costs the database a fraction of that. The first page of a view (what an agent
opens, and what each live update fetches again) has SQL that depends on nothing but who asks
and the URL's filters: it is compiled once per such key and then run as it is, its rows made
into `InboxRow`s as the ORM would (each column converted).

A search is kept too when its word is known to be common (`search.plan_is_sql_only`: its
condition is then subqueries of the word only). Any other search runs its probes first; when
they found a short list of conversations (a rare word, an order number: `search.found`), the
page runs SQL kept per key too, with the list as one parameter (`search.listed_condition`),
where the ORM built and compiled it for every search: a third of such a page's instructions
(`bench/page_instructions.py`, at 1,000,000 conversations). A search whose probes found too
many to list (a subquery then, or a check per row) is built each time, as are a later page
(its cursor is a value of the SQL) and a view whose SQL holds the time of the request
("Breaching soon").
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import tzinfo
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models import QuerySet

from comptoir.accounts.models import User
from comptoir.accounts.permissions import sees_everything
from comptoir.inbox import search
from comptoir.inbox.permissions import visible_conversations
from comptoir.inbox.prepared import Shape, compile_as_is, compile_named, run_as_is, run_named
from comptoir.inbox.queries import (
    FILTER_PARAMS,
    ORDERS,
    InboxView,
    KeysetOrder,
    filter_conversations,
    filters_from_params,
    page,
    page_of,
)
from comptoir.inbox.rows import InboxRow, inbox_rows
from comptoir.lib.kept import Kept

# Views whose SQL holds the request's time.
_TIMED_VIEWS = frozenset({"breaching"})
# Kept SQL texts, the least used dropped past 2,000: a key per user and set of filters in use.
_kept: Kept[Shape] = Kept(most=2000)
# Where a search's listed conversations go in a kept statement (no search word equals it).
_LISTED = "\x00comptoir-listed-conversations\x00"


def clear() -> None:
    """Forget every kept query (tests)."""
    _kept.clear()


def list_query(user: User, view: InboxView, params: dict[str, str], tz: tzinfo) -> QuerySet[Any]:
    """The conversations `user` sees in `view` narrowed by the URL's `params` (raises
    ValidationError naming a malformed one)."""
    qs = view.apply(visible_conversations(user), user)
    return filter_conversations(qs, user, **filters_from_params(params, tz))


def list_order(view: InboxView, params: dict[str, str]) -> KeysetOrder:
    # A search lists newest first, whatever the view's own order.
    return ORDERS["recent"] if params.get("q") else view.order


def list_page(
    user: User,
    view: InboxView,
    params: dict[str, str],
    tz: tzinfo,
    cursor: str | None,
    limit: int,
) -> tuple[list[InboxRow], str | None]:
    """A page of the list and the cursor of the next one (None: the last page). Raises
    ValidationError or InvalidCursor for what the URL got wrong."""
    order = list_order(view, params)
    q = params.get("q", "").strip()
    if q and not cursor and _keepable(user, view) and not search.plan_is_sql_only(q):
        return _search_page(user, view, params, tz, order, limit)
    key = _key(user, view, params, tz) if not cursor else None
    if key is None:
        return page(inbox_rows(list_query(user, view, params, tz)), order, cursor, limit)
    compiled = _kept.get(key)
    if compiled is None:
        qs = inbox_rows(list_query(user, view, params, tz))
        try:
            compiled = compile_as_is(qs.order_by(*order.order_by())[: limit + 1])
        except EmptyResultSet:  # nothing can match (no SQL to keep)
            return [], None
        _kept.put(key, compiled)
    return page_of([InboxRow(row) for row in run_as_is(compiled)], order, limit)


def _search_page(
    user: User, view: InboxView, params: dict[str, str], tz: tzinfo, order: KeysetOrder, limit: int
) -> tuple[list[InboxRow], str | None]:
    """A search's first page, its probes run once: from kept SQL when they listed what matches."""
    found = search.found(params["q"])
    others = {**params, "q": ""}  # the search's condition comes last, as `list_query` adds it
    if found.ids is None:  # a subquery or a per-row check: built as the ORM builds it
        qs = list_query(user, view, others, tz).filter(found.condition)
        return page(inbox_rows(qs), order, None, limit)
    if not found.ids:
        return [], None
    key = ("listed", _key(user, view, others, tz))
    compiled = _kept.get(key)
    if compiled is None:
        qs = list_query(user, view, others, tz).filter(search.listed_condition(_LISTED))
        ordered = inbox_rows(qs).order_by(*order.order_by())[: limit + 1]
        try:
            compiled = compile_named(ordered, {"listed": _LISTED})
        except EmptyResultSet:  # the other filters match nothing (no SQL to keep)
            return [], None
        _kept.put(key, compiled)
    rows = run_named(compiled, {"listed": search.listed_value(found.ids)})
    return page_of([InboxRow(row) for row in rows], order, limit)


def _keepable(user: User, view: InboxView) -> bool:
    """Whether a first page's SQL can be kept: not when it holds the time, nor for a user
    who is no one (an inactive user's scope is empty, as the ORM says)."""
    return view.key not in _TIMED_VIEWS and user.is_active


def _key(user: User, view: InboxView, params: dict[str, str], tz: tzinfo) -> Hashable | None:
    """All the SQL of a first page depends on (see `list_query`), or None when it holds more
    (a search's findings, the time)."""
    q = params.get("q", "").strip()
    if (q and not search.plan_is_sql_only(q)) or not _keepable(user, view):
        return None
    filters = tuple((params.get(name) or "").strip() for name in FILTER_PARAMS)
    # The role decides the scope; the user's teams are a subquery of their id; the timezone
    # turns the from/to days into times.
    return (user.pk, sees_everything(user), view.key, filters, str(tz) if any(filters) else "")
