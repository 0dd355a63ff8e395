"""Live updates: the stream names the conversations that changed, within the user's scope."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import Client

from comptoir.accounts.models import User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions, live
from comptoir.inbox.ingest import ingest
from comptoir.inbox.live import _async_stream, changes, last_event_id
from comptoir.inbox.models import Channel, Conversation

Build = Callable[..., InboundMessage]


class Clock:
    """Simulated time for the stream: each pause moves it on, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses = 0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses += 1
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    simulated = Clock()
    monkeypatch.setattr(live, "monotonic", simulated.monotonic)
    monkeypatch.setattr(live, "sleep", simulated.sleep)
    monkeypatch.setattr(live, "async_sleep", simulated.async_sleep)
    return simulated


def conversation(make_inbound: Build, **overrides: Any) -> Conversation:
    return Conversation.objects.get(pk=ingest(make_inbound(**overrides)).conversation_id)


def test_changes_since_an_event_are_named_once_and_only_within_scope(
    agent: User, outsider: User, make_inbound: Build
) -> None:
    start = last_event_id()
    conv = conversation(make_inbound)

    last, convs = changes(agent, start)
    assert convs == [conv.pk]
    assert changes(agent, last) == (last, [])
    assert changes(outsider, start)[1] == []

    actions.tag_conversation(conv, tag="urgent", actor=agent)
    assert changes(agent, last)[1] == [conv.pk]


def test_the_stream_sends_what_changed_then_ends(
    client: Client, agent: User, make_inbound: Build, settings: Any, clock: Clock
) -> None:
    settings.COMPTOIR_LIVE_SECONDS = 5
    settings.COMPTOIR_LIVE_CHECK_SECONDS = 1
    start = last_event_id()
    conv = conversation(make_inbound)
    client.force_login(agent)

    response = client.get(f"/inbox/live?after={start}")
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]

    assert response["Content-Type"] == "text/event-stream"
    assert body.startswith("retry: 2000")
    assert f'"conversations": [{conv.pk}]' in body
    assert body.count("event: changed") == 1
    assert clock.pauses == 5  # one check a second for the stream's 5 seconds


def test_a_reconnecting_browser_resumes_after_its_last_event(
    client: Client, agent: User, make_inbound: Build, settings: Any, clock: Clock
) -> None:
    settings.COMPTOIR_LIVE_SECONDS = 2
    settings.COMPTOIR_LIVE_CHECK_SECONDS = 1
    conversation(make_inbound)
    seen = last_event_id()
    client.force_login(agent)

    response = client.get("/inbox/live?after=0", headers={"Last-Event-ID": str(seen)})

    assert b"event: changed" not in b"".join(response.streaming_content)  # type: ignore[attr-defined]


def test_the_stream_needs_a_login(client: Client) -> None:
    assert client.get("/inbox/live").status_code == 302


def test_under_asgi_the_stream_waits_without_a_thread(
    transactional_db: None, agent: User, make_inbound: Build, channel: Channel, clock: Clock
) -> None:
    # Committed data: the stream reads from the database in another thread.
    start = last_event_id()
    conv = conversation(make_inbound)

    async def collect() -> list[str]:
        frames = [frame async for frame in _async_stream(agent, start, 3, 1)]
        await sync_to_async(connections.close_all)()  # the stream's database thread's
        return frames

    # Its own thread: another test's browser may keep an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        frames = pool.submit(asyncio.run, collect()).result()

    assert frames[0].startswith("retry:")
    assert [f for f in frames if f"[{conv.pk}]" in f]
    assert clock.pauses == 3


def test_a_quiet_stream_says_it_is_still_there(
    client: Client, agent: User, settings: Any, clock: Clock
) -> None:
    settings.COMPTOIR_LIVE_SECONDS = 40
    settings.COMPTOIR_LIVE_CHECK_SECONDS = 1
    client.force_login(agent)

    body = b"".join(client.get(f"/inbox/live?after={last_event_id()}").streaming_content)  # type: ignore[attr-defined]

    assert body.count(b": still here") == 2  # one every 15 s of silence
    assert b"event: changed" not in body


def test_a_stream_ends_quietly_when_the_database_goes_away(
    agent: User, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    def gone(user: User, after: int) -> tuple[int, list[int]]:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(live, "changes", gone)

    frames = list(live._sync_stream(agent, 0, 60, 1))

    # The browser's EventSource reconnects on its own and resumes from its last event.
    assert frames == ["retry: 2000\n\n"]
    assert clock.pauses == 0


def test_quiet_streams_share_one_read_of_the_event_clock(
    agent: User, make_inbound: Build, clock: Clock
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    start = last_event_id()
    watches = [live._Watch(agent, start, 60, 1.0, None) for _ in range(20)]
    for watch in watches:
        watch.check()  # each looks once for what changed since its page was drawn
    clock.sleep(1.0)
    with CaptureQueriesContext(connection) as quiet:
        for watch in watches:
            assert watch.check()[1] == []
    # Nothing happened: one read of the newest event for the twenty streams, no other query.
    assert len(quiet.captured_queries) == 1

    conv = conversation(make_inbound)
    clock.sleep(1.0)
    assert all(watch.check()[1] == [conv.pk] for watch in watches)
