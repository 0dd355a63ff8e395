"""The visitor's live stream (server-sent events): the agents' answers, and whether one of them
is writing. SSE rather than a WebSocket: the desk already serves SSE under the same ASGI or
WSGI server (no second protocol, proxy rule or library), the browser's EventSource reconnects
by itself and says where it was (`Last-Event-ID`), and what the visitor sends is a plain POST
that a retry makes safe (idempotent by the widget's message id).

Like the desk's own streams (`inbox.live`), a stream holds no database connection between its
checks and ends after a minute; the browser reconnects."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections
from django.utils import timezone

from comptoir.connectors.chat.models import ChatLine, ChatVisitor
from comptoir.connectors.chat.ports import desk
from comptoir.connectors.chat.service import line_json

STREAM_SECONDS = 60.0
CHECK_EVERY = 1.0
HEARTBEAT_EVERY = 15.0
SEEN_EVERY = 30.0  # how often a stream tells that the visitor is still here

monotonic: Callable[[], float] = time.monotonic
sleep: Callable[[float], None] = time.sleep
async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


class Watch:
    def __init__(self, channel_id: int, visitor_id: int, key: str, after: int) -> None:
        self.channel_id, self.visitor_id, self.key, self.after = channel_id, visitor_id, key, after
        self.typing = ""
        self.deadline = monotonic() + STREAM_SECONDS
        self.spoke = self.seen = monotonic()

    @property
    def open(self) -> bool:
        return monotonic() < self.deadline

    def check(self) -> list[str]:
        """The frames to send now (one short read; the caller releases the connection)."""
        frames = []
        lines = list(
            ChatLine.objects.filter(visitor_id=self.visitor_id, pk__gt=self.after).order_by("pk")[
                :50
            ]
        )
        for line in lines:
            self.after = line.pk
            frames.append(f"id: {line.pk}\nevent: line\ndata: {json.dumps(line_json(line))}\n\n")
        typing = desk().agent_typing(self.channel_id, self.key)
        if typing != self.typing:
            self.typing = typing
            frames.append(f"event: typing\ndata: {json.dumps({'agent': typing})}\n\n")
        now = monotonic()
        if now - self.seen > SEEN_EVERY:
            self.seen = now
            ChatVisitor.objects.filter(pk=self.visitor_id).update(last_seen_at=timezone.now())
        if frames:
            self.spoke = now
        elif now - self.spoke > HEARTBEAT_EVERY:
            self.spoke = now
            frames.append(": still here\n\n")
        return frames


def sync_stream(watch: Watch) -> Iterator[str]:
    yield "retry: 2000\n\n"
    while watch.open:
        try:
            frames = watch.check()
        except DatabaseError:
            return  # the browser reconnects
        finally:
            if threading.current_thread() is not threading.main_thread():
                connections.close_all()
        yield from frames
        sleep(CHECK_EVERY)


async def async_stream(watch: Watch) -> AsyncIterator[str]:
    def check_and_release() -> list[str]:
        try:
            return watch.check()
        finally:
            connections.close_all()

    read = sync_to_async(check_and_release)
    yield "retry: 2000\n\n"
    while watch.open:
        try:
            frames = await read()
        except DatabaseError:
            return
        for frame in frames:
            yield frame
        await async_sleep(CHECK_EVERY)
