"""The inbox list's first pages run from SQL kept per process: the same rows as the ORM's query,
whatever the view, the filters, the role or what changed since the SQL was kept."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC
from typing import Any

import pytest

from comptoir.accounts.models import Role, Team, User
from comptoir.inbox import list_page as lp
from comptoir.inbox import search
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Shop, Status
from comptoir.inbox.queries import FILTER_PARAMS, VIEWS, page
from comptoir.inbox.rows import inbox_rows


@pytest.fixture(autouse=True)
def _nothing_kept() -> Iterator[None]:
    lp.clear()
    yield
    lp.clear()


def _params(**given: str) -> dict[str, str]:
    return {name: given.get(name, "") for name in FILTER_PARAMS}


def _ids(rows: list[Any]) -> list[int]:
    return [row.pk for row in rows]


def _orm(user: User, view: str, params: dict[str, str], limit: int) -> list[int]:
    """What the ORM's own query lists, for comparison."""
    v = VIEWS[view]
    qs = inbox_rows(lp.list_query(user, v, params, UTC))
    return _ids(page(qs, lp.list_order(v, params), None, limit)[0])


def _fill(make: Callable[..., Any], channel: Channel, n: int, tag: str) -> list[int]:
    return [
        ingest(make(channel_id=channel.pk, thread_id=f"{tag}-{i}")).conversation_id
        for i in range(n)
    ]


@pytest.fixture
def spread(
    make_inbound: Callable[..., Any], channel: Channel, shop: Shop, other_team: Team, agent: User
) -> dict[str, list[int]]:
    theirs = Channel.objects.create(
        shop=shop, kind="api", marketplace="fnac", name="Fnac", team=other_team
    )
    ours = _fill(make_inbound, channel, 7, "o")
    others = _fill(make_inbound, theirs, 4, "t")
    Conversation.objects.filter(pk=ours[0]).update(assignee=agent, status=Status.PENDING)
    Conversation.objects.filter(pk=ours[1]).update(status=Status.RESOLVED, needs_reply=False)
    Conversation.objects.filter(pk=ours[2]).update(archived=True)
    Conversation.objects.filter(pk=others[0]).update(team=channel.team)  # given to our team
    return {"ours": ours, "others": others}


CASES = [
    ("needs_reply", {}),
    ("all", {}),
    ("mine", {}),
    ("unassigned", {}),
    ("resolved", {}),
    ("archived", {}),
    ("all", {"marketplace": "fnac"}),
    ("all", {"status": "pending"}),
    ("needs_reply", {"assignee": "me"}),
    ("all", {"assignee": "none", "has_order": "no"}),
    ("all", {"tag": "nothing-has-it"}),
]


@pytest.mark.parametrize(("view", "given"), CASES)
def test_kept_pages_list_what_the_orm_lists_for_each_role(
    spread: dict[str, list[int]], agent: User, view: str, given: dict[str, str]
) -> None:
    admin = User.objects.create_user("root", "root@example.com", "pw", role=Role.ADMIN)
    params = _params(**given)
    for user in (agent, admin):
        expected = _orm(user, view, params, 50)
        for _ in range(2):  # compiled and kept, then run from what was kept
            rows, cursor = lp.list_page(user, VIEWS[view], params, UTC, None, 50)
            assert (_ids(rows), cursor) == (expected, None)
    assert len(lp._kept) == 2  # one per user


def test_a_kept_page_shows_what_changed_since(
    spread: dict[str, list[int]], agent: User, make_inbound: Callable[..., Any], channel: Channel
) -> None:
    params = _params()
    before, _ = lp.list_page(agent, VIEWS["all"], params, UTC, None, 50)
    newer = _fill(make_inbound, channel, 1, "n")[0]
    Conversation.objects.filter(pk=spread["ours"][3]).update(deleted_at="2026-01-01T00:00:00Z")
    after, _ = lp.list_page(agent, VIEWS["all"], params, UTC, None, 50)
    assert newer in _ids(after)
    assert newer not in _ids(before)
    assert spread["ours"][3] in _ids(before)
    assert spread["ours"][3] not in _ids(after)
    assert len(lp._kept) == 1
    # Rows come as the ORM makes them: dates converted, related values read.
    row = next(r for r in after if r.pk == newer)
    assert row.last_message_at is not None
    assert row.last_message_at.tzinfo is not None
    assert row.channel__marketplace == "amazon"
    assert row.who


def test_a_new_role_or_team_changes_what_the_kept_page_lists(
    spread: dict[str, list[int]], agent: User, other_team: Team
) -> None:
    params = _params()
    theirs = set(spread["others"][1:])
    seen = set(_ids(lp.list_page(agent, VIEWS["all"], params, UTC, None, 50)[0]))
    assert not seen & theirs
    assert spread["others"][0] in seen
    other_team.members.add(agent)  # the teams are read by the SQL itself
    seen = set(_ids(lp.list_page(agent, VIEWS["all"], params, UTC, None, 50)[0]))
    assert theirs <= seen
    other_team.members.remove(agent)
    agent.role = Role.SUPERVISOR  # sees everything: another key, another SQL
    agent.save()
    seen = set(_ids(lp.list_page(agent, VIEWS["all"], params, UTC, None, 50)[0]))
    assert theirs <= seen
    agent.is_active = False
    assert lp.list_page(agent, VIEWS["all"], params, UTC, None, 50) == ([], None)


def test_later_pages_and_timed_views_are_built_each_time(
    spread: dict[str, list[int]], agent: User
) -> None:
    params = _params()
    first, cursor = lp.list_page(agent, VIEWS["all"], params, UTC, None, 3)
    assert len(first) == 3
    assert cursor
    rest, end = lp.list_page(agent, VIEWS["all"], params, UTC, cursor, 50)
    assert end is None
    assert _ids(first) + _ids(rest) == _orm(agent, "all", params, 50)
    lp.list_page(agent, VIEWS["breaching"], params, UTC, None, 50)
    lp.list_page(agent, VIEWS["breaching"], _params(q="Jeanne"), UTC, None, 50)
    lp.list_page(agent, VIEWS["all"], _params(q="Jeanne"), UTC, cursor, 50)
    assert len(lp._kept) == 1  # the first page's only


def _say(make: Callable[..., Any], channel: Channel, text: str, thread: str) -> int:
    return ingest(make(channel_id=channel.pk, thread_id=thread, text=text)).conversation_id


SEARCHES = [
    ("all", {}),
    ("needs_reply", {}),
    ("all", {"status": "open"}),
    ("all", {"marketplace": "fnac"}),
    ("mine", {}),
    ("all", {"tag": "nothing-has-it"}),
]


@pytest.mark.parametrize(("view", "given"), SEARCHES)
def test_a_listed_search_runs_from_kept_sql_and_lists_what_the_orm_lists(
    spread: dict[str, list[int]],
    agent: User,
    make_inbound: Callable[..., Any],
    channel: Channel,
    view: str,
    given: dict[str, str],
) -> None:
    admin = User.objects.create_user("root", "root@example.com", "pw", role=Role.ADMIN)
    said = [_say(make_inbound, channel, "le colis zanzibarique est cassé", f"z{i}") for i in (0, 1)]
    params = _params(q="zanzibarique", **given)
    found = search.found("zanzibarique")
    assert found.ids is not None  # a listed plan: the case this test is about
    assert set(said) <= set(found.ids)
    for user in (agent, admin):
        expected = _orm(user, view, params, 50)
        for _ in range(2):  # compiled and kept, then run from what was kept
            rows, cursor = lp.list_page(user, VIEWS[view], params, UTC, None, 50)
            assert (_ids(rows), cursor) == (expected, None)
    if view == "all" and not given:
        assert set(said) <= set(expected)
    assert sorted(str(key[0]) for key in lp._kept._entries) in ([], ["listed", "listed"])


def test_a_kept_search_lists_what_its_probes_find_now(
    spread: dict[str, list[int]], agent: User, make_inbound: Callable[..., Any], channel: Channel
) -> None:
    params = _params(q="zanzibarique")
    assert lp.list_page(agent, VIEWS["all"], params, UTC, None, 50) == ([], None)
    first = _say(make_inbound, channel, "zanzibarique, vraiment", "z0")
    assert _ids(lp.list_page(agent, VIEWS["all"], params, UTC, None, 50)[0]) == [first]
    second = _say(make_inbound, channel, "encore zanzibarique", "z1")
    rows, _ = lp.list_page(agent, VIEWS["all"], params, UTC, None, 50)
    assert set(_ids(rows)) == {first, second}
    assert _ids(rows) == _orm(agent, "all", params, 50)
    assert len(lp._kept) == 1  # one statement, whatever the ids and however many
    # A short page: the next page's cursor, as the ORM's query gives it.
    rows, cursor = lp.list_page(agent, VIEWS["all"], params, UTC, None, 1)
    assert cursor
    rest, _ = lp.list_page(agent, VIEWS["all"], params, UTC, cursor, 50)
    assert _ids(rows) + _ids(rest) == _orm(agent, "all", params, 50)


def test_a_search_past_the_list_is_built_each_time(
    spread: dict[str, list[int]],
    agent: User,
    make_inbound: Callable[..., Any],
    channel: Channel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for i in range(3):
        _say(make_inbound, channel, "zanzibarique", f"z{i}")
    monkeypatch.setattr(search, "CONVERSATION_CAP", 1)  # too many to list: a subquery
    assert search.found("zanzibarique").ids is None
    params = _params(q="zanzibarique")
    expected = _orm(agent, "all", params, 50)
    assert len(expected) == 3
    assert _ids(lp.list_page(agent, VIEWS["all"], params, UTC, None, 50)[0]) == expected
    assert not lp._kept


def test_a_malformed_filter_is_refused_and_nothing_kept(agent: User) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        lp.list_page(agent, VIEWS["all"], _params(status="bogus"), UTC, None, 50)
    assert not lp._kept


def test_the_kept_queries_are_bounded(
    spread: dict[str, list[int]], agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lp._kept, "most", 3)
    for tag in ("a", "b", "c", "d", "e"):
        lp.list_page(agent, VIEWS["all"], _params(tag=tag), UTC, None, 50)
    assert len(lp._kept) == 3


def test_a_common_words_first_page_is_kept_and_lists_what_the_orm_lists(
    spread: dict[str, list[int]], agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "_COMMON", {})  # this test's common word only
    params = _params(q="Jeanne")  # the buyer's name: every conversation of the fixture
    expected = _orm(agent, "all", params, 50)
    assert expected
    rows, _ = lp.list_page(agent, VIEWS["all"], params, UTC, None, 50)
    assert _ids(rows) == expected
    # Not known to be common: the probes listed what they found, one parameter of kept SQL.
    assert [key[0] for key in lp._kept._entries] == ["listed"]
    terms = search.Terms.parse("Jeanne")
    assert terms is not None
    search._remember_common(terms, search.COMMON_MATCHES)
    for _ in range(2):
        rows, cursor = lp.list_page(agent, VIEWS["all"], params, UTC, None, 50)
        assert (_ids(rows), cursor) == (expected, None)
    assert len(lp._kept) == 2  # and the common word's own


def test_a_kept_searchs_conversations_are_read_by_their_key(
    spread: dict[str, list[int]], agent: User, make_inbound: Callable[..., Any], channel: Channel
) -> None:
    """The kept statement's list of ids is a condition an index serves (SQLite wrote a boolean
    expression as "(...) = 1", which made it read every conversation)."""
    from django.db import connection, transaction

    _say(make_inbound, channel, "zanzibarique", "z0")
    lp.list_page(agent, VIEWS["all"], _params(q="zanzibarique"), UTC, None, 50)
    (shape,) = lp._kept._entries.values()
    params = [search.listed_value([1, 2]) if named else value for named, value in shape.slots]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + shape.sql, params)
            assert "SEARCH inbox_conversation USING INTEGER PRIMARY KEY" in str(cursor.fetchall())
        else:  # a native boolean: the condition as written (the plan's index checked at scale)
            assert '"inbox_conversation"."id" = ANY(%s::bigint[])' in shape.sql
            cursor.execute("EXPLAIN " + shape.sql, params)
            assert "= ANY" in str(cursor.fetchall())
