"""Live updates for the open inbox and conversation pages, by server-sent events.

The page says which event it was rendered after (`data-last-event`); the stream sends the ids of
the conversations that changed since, within the user's scope, and the page refreshes the part
that shows them (htmx). A stream ends after LIVE_SECONDS: the browser's EventSource reconnects
on its own, so no server thread or task is held for ever. Under ASGI the stream is asynchronous
(no thread held while waiting); under WSGI (tests, simple deployments) it is a plain generator.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.db import DatabaseError, connections
from django.http import HttpRequest, StreamingHttpResponse

from comptoir.accounts.availability import SEEN_EVERY, mark_seen
from comptoir.accounts.models import User
from comptoir.inbox.models import Event
from comptoir.inbox.permissions import visible_conversations
from comptoir.inbox.queries import others_present

logger = logging.getLogger("comptoir.inbox")

LIVE_SECONDS = 300.0
CHECK_EVERY = 1.0
HEARTBEAT_EVERY = 15.0
BATCH = 200


def changes(user: User, after: int) -> tuple[int, list[int]]:
    """(the newest event id seen, the conversations that changed after `after`)."""
    rows = list(
        Event.objects.filter(
            pk__gt=after, conversation__in=visible_conversations(user).values("pk")
        )
        .order_by("pk")
        .values_list("pk", "conversation_id")[:BATCH]
    )
    if not rows:
        return after, []
    return rows[-1][0], sorted({conv for _, conv in rows if conv is not None})


class _EventClock:
    """The newest event id, read at most once per check interval in each process and shared by
    all of its streams: a quiet desk with 200 open tabs costs one query a second per process,
    not 200, and a stream looks for its changes only when the clock has moved."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Keyed by the stream's clock (tests run streams on simulated time beside real ones):
        # (when read, the value, since when one stream is reading it again or None).
        self._read: dict[Callable[[], float], tuple[float, int, float | None]] = {}

    def cached(self, now: Callable[[], float], every: float) -> int | None:
        """The newest event id without a query, or None when the caller must read it.

        Streams wake together: past the interval, the first to ask reads it again and the
        others keep the last value meanwhile (unless that read seems lost)."""
        at = now()
        with self._lock:
            read = self._read.get(now)
            if read is None:
                return None
            when, value, reading_since = read
            if 0 <= at - when < every:
                return value
            if reading_since is not None and 0 <= at - reading_since < 5 * every:
                return value
            self._read[now] = (when, value, at)
            return None

    def latest(self, now: Callable[[], float], every: float) -> int:
        """The newest event id, read from the database when older than `every`."""
        at = now()
        with self._lock:
            read = self._read.get(now)
        if read is not None and 0 <= at - read[0] < every:
            return read[1]
        value = last_event_id()
        with self._lock:
            if len(self._read) > 16:  # old simulated clocks
                self._read.clear()
            self._read[now] = (at, value, None)
        return value


_clock = _EventClock()


def _frame(last: int, conversations: list[int]) -> str:
    data = json.dumps({"last": last, "conversations": conversations})
    return f"id: {last}\nevent: changed\ndata: {data}\n\n"


def _presence_frame(present: list[dict[str, str]]) -> str:
    return f"event: presence\ndata: {json.dumps(present)}\n\n"


def _told_frame(event: str, told: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(told)}\n\n"


# What a conversation page's stream also tells, by event name, provided from the apps above
# (the live chat's visitor state: `inbox.chat_views.install`): given the conversation and the
# user, a reader of the current value (read at each check, sent when it changes), or None.
Teller = Callable[[int, User], Callable[[], dict[str, Any] | None] | None]
_tellers: dict[str, Teller] = {}


def provide_teller(event: str, teller: Teller) -> None:
    _tellers[event] = teller


def readers_for(conversation: int, user: User) -> dict[str, Callable[[], dict[str, Any] | None]]:
    found = {event: teller(conversation, user) for event, teller in _tellers.items()}
    return {event: read for event, read in found.items() if read is not None}


# Tests replace these with a simulated clock, so a stream runs its course without waiting.
monotonic: Callable[[], float] = time.monotonic
sleep: Callable[[float], None] = time.sleep
async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


# What one check found: (the newest event, the conversations changed, who else is on this
# conversation, what the apps above tell on it by event name).
Found = tuple[int, list[int], list[dict[str, str]] | None, dict[str, dict[str, Any] | None]]


class _Watch:
    """One stream's state: what it has sent, when it last spoke, when it ends."""

    def __init__(
        self,
        user: User,
        after: int,
        seconds: float,
        every: float,
        conversation: int | None,
        readers: dict[str, Callable[[], dict[str, Any] | None]] | None = None,
    ) -> None:
        self.user, self.after = user, after
        # The clock is taken once, at the start: a stream that began before a test simulated
        # time keeps real time, and one begun under simulated time keeps that.
        self.monotonic, self.sleep, self.async_sleep = monotonic, sleep, async_sleep
        self.deadline = self.monotonic() + seconds
        self.quiet_since = self.monotonic()
        # On a conversation page the stream also says who else is there, when that changes.
        self.conversation = conversation
        self.present: list[dict[str, str]] | None = None
        # And what the apps above tell on it (a chat's visitor typing, here, away, left), when
        # it changes: read at each check, as a state may lapse without a write ("typing").
        self.readers = readers or {}
        self.told: dict[str, dict[str, Any] | None] = {}
        # The user is at the desk while a page of theirs streams (the live chat's "online").
        self.seen_told: float | None = None
        self.every = every
        self.clock_seen = -1  # the event clock when this stream last looked for changes

    def check(self) -> Found:
        last, convs = self.after, list[int]()
        latest = _clock.latest(self.monotonic, self.every)
        if latest != self.clock_seen:
            self.clock_seen = latest
            last, convs = changes(self.user, self.after)
        present = others_present(self.conversation, self.user) if self.conversation else None
        told = {event: read() for event, read in self.readers.items()}
        if self.seen_due():
            self.seen_told = self.monotonic()
            mark_seen(self.user.pk)
        return last, convs, present, told

    def seen_due(self) -> bool:
        told = self.seen_told
        return told is None or self.monotonic() - told >= SEEN_EVERY.total_seconds()

    def quiet(self) -> bool:
        """Nothing to look at, known without a query: the event clock has not moved since this
        stream last looked, it tells no presence and the user's "seen" is not due (an async
        stream then skips the thread hop a query needs)."""
        latest = _clock.cached(self.monotonic, self.every)
        return latest == self.clock_seen and self.conversation is None and not self.seen_due()

    @property
    def open(self) -> bool:
        return self.monotonic() < self.deadline

    def frames(
        self,
        last: int,
        convs: list[int],
        present: list[dict[str, str]] | None = None,
        told: dict[str, dict[str, Any] | None] | None = None,
    ) -> Iterator[str]:
        """What to send after a check that found `convs` changed up to event `last`."""
        if present is not None and present != self.present:
            self.present, self.quiet_since = present, self.monotonic()
            yield _presence_frame(present)
        for event, value in (told or {}).items():
            if value is not None and value != self.told.get(event):
                self.told[event], self.quiet_since = value, self.monotonic()
                yield _told_frame(event, value)
        if convs:
            self.after, self.quiet_since = last, self.monotonic()
            yield _frame(last, convs)
        elif self.monotonic() - self.quiet_since > HEARTBEAT_EVERY:
            self.quiet_since = self.monotonic()
            yield ": still here\n\n"


def _sync_stream(
    user: User,
    after: int,
    seconds: float,
    every: float,
    conversation: int | None = None,
    readers: dict[str, Callable[[], dict[str, Any] | None]] | None = None,
) -> Iterator[str]:
    watch = _Watch(user, after, seconds, every, conversation, readers)
    yield "retry: 2000\n\n"
    while watch.open:
        try:
            found = watch.check()
        except DatabaseError as exc:
            # The database went away (a restart, a failover): end the stream; the browser
            # reconnects by itself and the new stream starts from its last event.
            logger.warning("live stream ended: %s", exc)
            return
        finally:
            # A server thread of its own sleeps between checks for minutes: it holds no
            # connection meanwhile (a main thread keeps its one, as for any request).
            if threading.current_thread() is not threading.main_thread():
                connections.close_all()
        yield from watch.frames(*found)
        watch.sleep(every)


async def _async_stream(
    user: User,
    after: int,
    seconds: float,
    every: float,
    conversation: int | None = None,
    readers: dict[str, Callable[[], dict[str, Any] | None]] | None = None,
) -> AsyncIterator[str]:
    watch = _Watch(user, after, seconds, every, conversation, readers)

    def check_and_release() -> Found:
        # Runs in the request's own thread, which Django keeps for the whole stream: without
        # closing, each open tab would hold a database connection for minutes (200 tabs, past
        # PostgreSQL's 100). A pool (COMPTOIR_DB_POOL_SIZE) makes the reopening cheap.
        try:
            return watch.check()
        finally:
            connections.close_all()

    read = sync_to_async(check_and_release)
    yield "retry: 2000\n\n"
    while watch.open:
        try:
            found: Found = (watch.after, [], None, {}) if watch.quiet() else await read()
        except DatabaseError as exc:
            logger.warning("live stream ended: %s", exc)
            return
        for frame in watch.frames(*found):
            yield frame
        await watch.async_sleep(every)


@login_required
def live(request: HttpRequest) -> StreamingHttpResponse:
    user = request.user
    assert isinstance(user, User)
    # A reconnecting EventSource says where it was; a new page says what it was rendered after.
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after", "")
    after = int(raw) if raw.isdigit() and len(raw) < 19 else 0
    # Presence is only told about a conversation the user may see.
    raw_conv = request.GET.get("conversation", "")
    conversation = None
    if raw_conv.isdigit() and len(raw_conv) < 19:
        found = visible_conversations(user).filter(pk=int(raw_conv)).values_list("pk", flat=True)
        conversation = found.first()
    readers = readers_for(conversation, user) if conversation else None
    seconds = float(getattr(settings, "COMPTOIR_LIVE_SECONDS", LIVE_SECONDS))
    every = float(getattr(settings, "COMPTOIR_LIVE_CHECK_SECONDS", CHECK_EVERY))
    stream: Iterator[str] | AsyncIterator[str]
    if isinstance(request, ASGIRequest):
        stream = _async_stream(user, after, seconds, every, conversation, readers)
        # This thread stays the request's until the stream ends: its connection goes now,
        # not minutes later (many tabs opening at once would exhaust PostgreSQL's).
        connections.close_all()
    else:
        stream = _sync_stream(user, after, seconds, every, conversation, readers)
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a proxy in front must not hold the events back
    return response


def last_event_id() -> int:
    """Where a page's live stream starts: what it shows already includes up to this event."""
    return Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
