"""The inbox list's page of rows, its SQL kept per process for each first page.

Building the list's queryset (the user's teams, the view, the filters, the order) and compiling
it to SQL cost the ORM about 3 ms a request at any scale, a quarter of the inbox page's CPU; the
query itself costs the database a fraction of that. The first page of a view (what an agent
opens, and what each live update fetches again) has SQL that depends on nothing but who asks
and the URL's filters: it is compiled once per such key and then run as it is, its rows made
into `InboxRow`s as the ORM would (each column converted).

A search is kept too when its word is known to be common (`search.plan_is_sql_only`: its
condition is then subqueries of the word only). Not kept, built each time: a later page (its
cursor is a value of the SQL), any other search (it runs its own probes and lists what they
found now), and a view whose SQL holds the time of the request ("Breaching soon").
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
from comptoir.inbox.prepared import Shape, compile_as_is, run_as_is
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


def _key(user: User, view: InboxView, params: dict[str, str], tz: tzinfo) -> Hashable | None:
    """All the SQL of a first page depends on (see `list_query`), or None when it holds more
    (a search's findings, the time)."""
    q = params.get("q", "").strip()
    if (q and not search.plan_is_sql_only(q)) or view.key in _TIMED_VIEWS or not user.is_active:
        return None
    filters = tuple((params.get(name) or "").strip() for name in FILTER_PARAMS)
    # The role decides the scope; the user's teams are a subquery of their id; the timezone
    # turns the from/to days into times.
    return (user.pk, sees_everything(user), view.key, filters, str(tz) if any(filters) else "")
