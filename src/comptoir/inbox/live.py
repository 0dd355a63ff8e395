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
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, StreamingHttpResponse

from comptoir.accounts.models import User
from comptoir.accounts.permissions import visible_conversations
from comptoir.inbox.models import Event

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


def _frame(last: int, conversations: list[int]) -> str:
    data = json.dumps({"last": last, "conversations": conversations})
    return f"id: {last}\nevent: changed\ndata: {data}\n\n"


# Tests replace these with a simulated clock, so a stream runs its course without waiting.
monotonic: Callable[[], float] = time.monotonic
sleep: Callable[[float], None] = time.sleep
async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


class _Watch:
    """One stream's state: what it has sent, when it last spoke, when it ends."""

    def __init__(self, user: User, after: int, seconds: float) -> None:
        self.user, self.after = user, after
        self.deadline = monotonic() + seconds
        self.quiet_since = monotonic()

    @property
    def open(self) -> bool:
        return monotonic() < self.deadline

    def frames(self, last: int, convs: list[int]) -> Iterator[str]:
        """What to send after a check that found `convs` changed up to event `last`."""
        if convs:
            self.after, self.quiet_since = last, monotonic()
            yield _frame(last, convs)
        elif monotonic() - self.quiet_since > HEARTBEAT_EVERY:
            self.quiet_since = monotonic()
            yield ": still here\n\n"


def _sync_stream(user: User, after: int, seconds: float, every: float) -> Iterator[str]:
    watch = _Watch(user, after, seconds)
    yield "retry: 2000\n\n"
    while watch.open:
        try:
            found = changes(user, watch.after)
        finally:
            # A server thread of its own sleeps between checks for minutes: it holds no
            # connection meanwhile (a main thread keeps its one, as for any request).
            if threading.current_thread() is not threading.main_thread():
                connections.close_all()
        yield from watch.frames(*found)
        sleep(every)


async def _async_stream(user: User, after: int, seconds: float, every: float) -> AsyncIterator[str]:
    watch = _Watch(user, after, seconds)
    read = sync_to_async(changes)
    yield "retry: 2000\n\n"
    while watch.open:
        for frame in watch.frames(*await read(user, watch.after)):
            yield frame
        await async_sleep(every)


@login_required
def live(request: HttpRequest) -> StreamingHttpResponse:
    user = request.user
    assert isinstance(user, User)
    # A reconnecting EventSource says where it was; a new page says what it was rendered after.
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after", "")
    after = int(raw) if raw.isdigit() and len(raw) < 19 else 0
    seconds = float(getattr(settings, "COMPTOIR_LIVE_SECONDS", LIVE_SECONDS))
    every = float(getattr(settings, "COMPTOIR_LIVE_CHECK_SECONDS", CHECK_EVERY))
    stream: Iterator[str] | AsyncIterator[str]
    if isinstance(request, ASGIRequest):
        stream = _async_stream(user, after, seconds, every)
    else:
        stream = _sync_stream(user, after, seconds, every)
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a proxy in front must not hold the events back
    return response


def last_event_id() -> int:
    """Where a page's live stream starts: what it shows already includes up to this event."""
    return Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
