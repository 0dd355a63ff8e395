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
from collections.abc import AsyncIterator, Iterator

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


def _sync_stream(user: User, after: int, seconds: float, every: float) -> Iterator[str]:
    deadline = time.monotonic() + seconds
    quiet_since = time.monotonic()
    yield "retry: 2000\n\n"
    while time.monotonic() < deadline:
        try:
            last, convs = changes(user, after)
        finally:
            # A server thread of its own sleeps between checks for minutes: it holds no
            # connection meanwhile (a main thread keeps its one, as for any request).
            if threading.current_thread() is not threading.main_thread():
                connections.close_all()
        if convs:
            after = last
            quiet_since = time.monotonic()
            yield _frame(last, convs)
        elif time.monotonic() - quiet_since > HEARTBEAT_EVERY:
            quiet_since = time.monotonic()
            yield ": still here\n\n"
        time.sleep(every)


async def _async_stream(user: User, after: int, seconds: float, every: float) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    quiet_since = loop.time()
    read = sync_to_async(changes)
    yield "retry: 2000\n\n"
    while loop.time() < deadline:
        last, convs = await read(user, after)
        if convs:
            after = last
            quiet_since = loop.time()
            yield _frame(last, convs)
        elif loop.time() - quiet_since > HEARTBEAT_EVERY:
            quiet_since = loop.time()
            yield ": still here\n\n"
        await asyncio.sleep(every)


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
