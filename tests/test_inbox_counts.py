"""The nav's counts: what needs a reply per channel and per marketplace, and each view's size,
for what the user may see; read from one index (`conv_counts`) whatever the history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from comptoir.accounts.models import Team, User
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Shop, Status
from comptoir.inbox.queries import (
    ORDERS,
    VIEWS,
    marketplace_counts,
    view_counts,
    visible_conversations,
)


def _conversations(make: Callable[..., Any], channel: Channel, n: int, tag: str) -> list[int]:
    return [
        ingest(make(channel_id=channel.pk, thread_id=f"{tag}-{i}")).conversation_id
        for i in range(n)
    ]


def test_counts_say_what_needs_a_reply_where_the_user_may_look(
    make_inbound: Callable[..., Any], channel: Channel, shop: Shop, other_team: Team, agent: User
) -> None:
    fnac = Channel.objects.create(
        shop=shop, kind="api", marketplace="fnac", name="Fnac", team=channel.team
    )
    theirs = Channel.objects.create(
        shop=shop, kind="api", marketplace="fnac", name="Fnac (theirs)", team=other_team
    )
    amazon = _conversations(make_inbound, channel, 5, "a")
    _conversations(make_inbound, fnac, 2, "f")
    _conversations(make_inbound, theirs, 4, "t")  # another team's: never counted
    # What no longer needs a reply, or is out of the views, is not counted either.
    Conversation.objects.filter(pk=amazon[0]).update(archived=True)
    Conversation.objects.filter(pk=amazon[1]).update(status=Status.SNOOZED)
    Conversation.objects.filter(pk=amazon[2]).update(merged_into_id=amazon[3])

    counts = marketplace_counts(agent)
    assert [(c.label, c.count) for c in counts["channels"]] == [("Amazon FR (API)", 2), ("Fnac", 2)]
    assert {c.key: c.count for c in counts["marketplaces"]} == {"amazon": 2, "fnac": 2}
    views = view_counts(agent)
    assert (views["needs_reply"], views["archived"], views["snoozed"]) == ("4", "1", "1")


# sqlite_stat1 of the scale bench's 1,000,000 conversations (six channels, 4 % needing a reply).
MILLION_STATS = [
    ("conv_needs_reply", "1000000 500000 26 1"),
    ("conv_channel", "1000000 166667 41667 26"),
    ("conv_order_number", "1000000 166667 1"),
    ("conv_thread", "1000000 166667 1"),
    ("conv_assignee", "1000000 333334 83334 26"),
    ("conv_status_respond_by", "1000000 250000 26 1"),
    ("conv_status_recent", "1000000 250000 1 1"),
    ("conv_last_message", "1000000 1 1"),
    ("conv_customer", "1000000 2 1"),
    ("conv_merged_into", "1 1"),
    ("inbox_conversation_team_id_1d17aa2d", "1000000 500000"),
    ("inbox_conversation_shop_id_3ec27942", "1000000 500000"),
]


def _plan(qs: Any) -> str:
    sql, params = qs.query.sql_with_params()
    explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    with connection.cursor() as cursor:
        cursor.execute(explain + sql, params)
        return " ".join(str(row[-1]) for row in cursor.fetchall())


def test_the_archived_view_reads_an_index_of_its_own(
    make_inbound: Callable[..., Any], channel: Channel, agent: User
) -> None:
    """At a million conversations on SQLite the archived list walked every conversation by date
    (5 s a page when none is archived). SQLite is given the statistics of such an inbox (as
    ANALYZE wrote them for the scale bench's fill). PostgreSQL's plan follows statistics a
    small table cannot fake: there the index and its condition are checked as they are. The
    other plans (the per-channel count, the resolved list) depend on more than statistics:
    `bench/scale.py` measures them."""
    _conversations(make_inbound, channel, 3, "p")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'conv_archived'")
            (definition,) = cursor.fetchone()
            assert "(last_message_at, id) WHERE archived" in definition, definition
            return
        else:
            cursor.execute("ANALYZE")
            cursor.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'inbox_conversation'")
            cursor.executemany(
                "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('inbox_conversation', %s, %s)",
                MILLION_STATS,
            )
            cursor.execute("ANALYZE sqlite_schema")  # reads the statistics again
    seen = visible_conversations(agent)

    newest = ORDERS["recent"]
    archived = VIEWS["archived"].apply(seen, agent).order_by(*newest.order_by())[:51]
    assert "conv_archived" in _plan(archived)


def test_no_index_of_merged_into_holds_the_live_conversations(db: None) -> None:
    """A plain index of `merged_into` held every live conversation under NULL, and SQLite read
    it for "not merged": the archived view's count walked a million conversations (0.25 s)
    instead of reading conv_archived (0.3 ms). Only the merged ones are indexed."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'inbox_conversation' "
                "AND indexdef LIKE '%%(merged_into_id)%%'"
            )
        else:
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'inbox_conversation' AND sql LIKE '%%(\"merged_into_id\")%%'"
            )
        (definition,) = [row[0] for row in cursor.fetchall()]
    assert "merged_into_id" in definition
    assert "IS NOT NULL" in definition


def test_counts_missed_by_requests_at_once_are_counted_once(monkeypatch: Any) -> None:
    """When the counts expire, the requests in flight in a process all miss the cache: the
    first counts, the others wait for it and read what it kept (they each counted again)."""
    import threading

    from comptoir.inbox import queries

    counted: list[str] = []
    counting, release, second_missed = threading.Event(), threading.Event(), threading.Event()
    real = queries.cache

    class Watched:  # the cache proxy's methods are each thread's own: wrapped, not patched
        def get(self, key: str) -> Any:
            found = real.get(key)
            if threading.current_thread().name == "second" and found is None:
                second_missed.set()
            return found

        def set(self, key: str, value: Any, timeout: int) -> None:
            real.set(key, value, timeout)

    def count() -> dict[str, str]:
        counted.append(threading.current_thread().name)
        counting.set()
        release.wait(10)
        return {"needs_reply": "3"}

    monkeypatch.setattr(queries, "cache", Watched())
    results: list[dict[str, str]] = []
    key = "inbox:test-counts:1"
    first = threading.Thread(target=lambda: results.append(queries._counted(key, 1, count)))
    second = threading.Thread(
        target=lambda: results.append(queries._counted(key, 1, count)), name="second"
    )
    first.start()
    assert counting.wait(10)
    second.start()
    assert second_missed.wait(10)  # it found nothing kept, while the first is counting
    release.set()
    first.join(10)
    second.join(10)

    assert counted == [first.name]
    assert results == [{"needs_reply": "3"}, {"needs_reply": "3"}]


# -- how often the counts are counted again ---------------------------------------------------


class _Clock:
    """The counts' clock, moved by hand (patched into the module: nothing sleeps)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _counting_queries(read: Callable[[], Any]) -> tuple[Any, int]:
    """What `read()` returns and how many COUNT queries it ran (the latest-event read aside)."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        value = read()
    return value, sum("COUNT(" in q["sql"].upper() for q in captured.captured_queries)


def _needs_reply(which: str, agent: User) -> Callable[[], Any]:
    if which == "views":
        return lambda: view_counts(agent)["needs_reply"]
    return lambda: {c.key: c.count for c in marketplace_counts(agent)["marketplaces"]}["amazon"]


def _counted_as(which: str, n: int) -> Any:
    return str(n) if which == "views" else n


@pytest.mark.parametrize("which", ["views", "sources"])
def test_counts_are_counted_again_after_an_event_but_not_more_often_than_the_minimum_age(
    make_inbound: Callable[..., Any],
    channel: Channel,
    agent: User,
    monkeypatch: pytest.MonkeyPatch,
    which: str,
) -> None:
    """Live ingest writes events every second on a busy desk: each page load recounted. A new
    event now recounts only once the kept counts are COUNTS_MIN_SECONDS old."""
    from comptoir.inbox import queries

    clock = _Clock()
    monkeypatch.setattr(queries, "_clock", clock)
    read = _needs_reply(which, agent)
    _conversations(make_inbound, channel, 2, "m")
    assert _counting_queries(read) == (_counted_as(which, 2), 1 if which == "sources" else 8)

    _conversations(make_inbound, channel, 1, "n")  # a new event, within the minimum age
    clock.now += queries.COUNTS_MIN_SECONDS - 0.5
    assert _counting_queries(read) == (_counted_as(which, 2), 0)

    clock.now += 0.5  # the kept counts are now old enough: the new event is counted
    value, counts = _counting_queries(read)
    assert value == _counted_as(which, 3)
    assert counts > 0

    # No new event: kept however old, up to COUNTS_TTL.
    clock.now += queries.COUNTS_TTL - 0.5
    assert _counting_queries(read) == (_counted_as(which, 3), 0)


def test_counts_expire_after_the_ttl_without_any_event(
    make_inbound: Callable[..., Any],
    channel: Channel,
    agent: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "Breaching soon" moves with the clock alone: counts kept at the newest event still expire
    after COUNTS_TTL."""
    from comptoir.inbox import queries

    clock = _Clock()
    monkeypatch.setattr(queries, "_clock", clock)
    _conversations(make_inbound, channel, 2, "t")
    latest = queries.latest_event()

    def read() -> str:
        return view_counts(agent, latest)["needs_reply"]

    assert _counting_queries(read) == ("2", 8)
    # Changed behind the counts' back (no event): only the TTL shows it.
    Conversation.objects.update(needs_reply=False)
    clock.now += queries.COUNTS_TTL - 0.5
    assert _counting_queries(read) == ("2", 0)
    clock.now += 0.5
    assert _counting_queries(read) == ("0", 8)


def test_counts_kept_at_a_clock_ahead_of_this_process_are_counted_again(
    agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache is shared between processes: kept counts dated in the future (another host's
    clock ahead) are not trusted for their whole error."""
    from comptoir.inbox import queries

    clock = _Clock()
    monkeypatch.setattr(queries, "_clock", clock)
    _, counts = _counting_queries(lambda: view_counts(agent, (7, 0.0)))
    assert counts == 8
    clock.now -= 1
    assert _counting_queries(lambda: view_counts(agent, (7, 0.0)))[1] == 8


def test_a_users_own_change_is_counted_at_once_in_their_nav(
    make_inbound: Callable[..., Any],
    channel: Channel,
    agent: User,
    supervisor: User,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The minimum age is for others' news: after their own change (a bulk resolve, then the
    inbox again) the user sees it, not the counts of a second before."""
    from comptoir.inbox import actions, queries

    monkeypatch.setattr(queries, "_clock", _Clock())
    ids = _conversations(make_inbound, channel, 2, "o")
    assert (view_counts(agent)["needs_reply"], view_counts(supervisor)["needs_reply"]) == ("2", "2")
    with django_capture_on_commit_callbacks(execute=True):
        actions.bulk_apply(
            "set_status",
            list(Conversation.objects.filter(pk=ids[0])),
            actor=agent,
            status="resolved",
        )
    assert view_counts(agent)["needs_reply"] == "1"
    assert view_counts(supervisor)["needs_reply"] == "2"  # within the minimum age
