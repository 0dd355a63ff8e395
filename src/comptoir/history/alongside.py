"""Triage beside the import: the conversations a batch completed are read by a second process
while this one stores the next batch (the two cores both busy), then told here.

Only the reading (language, intent, moods, urgency, entities: two thirds of triage, and no
database) goes to the other process, forked with the models already loaded. The database work
stays in this process, between two ingest batches: SQLite has one writer, and the test
database's transaction is seen by this connection alone. A conversation is sent only once all
its rows are stored, since urgency reads "buyer messages since our last answer": the readings
are those of triage after the import (tests/test_import_history_alongside.py compares them).
"""

from __future__ import annotations

import multiprocessing
import sys
from collections import deque
from collections.abc import Iterable
from multiprocessing.pool import AsyncResult, Pool
from types import TracebackType

from django.db import transaction

from comptoir.history import reader
from comptoir.inbox.models import Channel, Conversation, Direction, Message
from comptoir.triage import reading, registry, training
from comptoir.triage.tasks import read_now, texts_of

type Thread = tuple[int, str]  # (channel id, the export's conversation id)


def start_method() -> str:
    """Fork shares the loaded models for nothing, but forking a process that runs other
    threads (pytest-xdist's, a server's) may deadlock the child, and Python warns: then a
    process from the fork server, sent the models pickled (9 MB, about 15 ms each way).
    Python threads are counted as Python counts them for its warning: every one running
    Python code, `threading`'s or not (execnet starts its own with `_thread`)."""
    return "fork" if len(sys._current_frames()) == 1 else "forkserver"


class Alongside:
    """A reading process for the length of an import (a context manager). `send` the threads
    whose rows are all stored; `collect` tells the conversations whose readings are back."""

    def __init__(self, shop_id: int) -> None:
        self.shop_id = shop_id
        self.read = 0
        _version, model = registry.model()
        mood = training.mood_models()
        # Forked, the models (tens of MB) are shared, not pickled; the child touches no
        # database connection and leaves by `os._exit`, so the parent's stay open.
        self._pool: Pool = multiprocessing.get_context(start_method()).Pool(
            1, initializer=reader.start, initargs=(model, mood)
        )
        self._channels: dict[int, Channel] = {}
        self._waiting: deque[tuple[list[Message], AsyncResult[list[reading.Reading]]]] = deque()

    def __enter__(self) -> Alongside:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self._pool.close()
        else:  # what was sent and not told stays unread: the triage after the import reads it
            self._pool.terminate()
        self._pool.join()

    def send(self, threads: Iterable[Thread]) -> None:
        """Send the unread buyer messages of these (complete) threads to be read."""
        by_channel: dict[int, list[str]] = {}
        for channel_id, thread in threads:
            by_channel.setdefault(channel_id, []).append(thread)
        conversations: list[int] = []
        for channel_id, names in by_channel.items():
            conversations += Conversation.objects.filter(
                channel_id=channel_id, external_thread_id__in=names
            ).values_list("pk", flat=True)
        if not conversations:
            return
        messages = list(
            Message.objects.filter(
                conversation_id__in=conversations, direction=Direction.IN, triaged_at=None
            ).order_by("sent_at", "pk")
        )
        # The shop's few channels, loaded once, instead of one joined per message (half of
        # this query's cost).
        if not {m.channel_id for m in messages} <= self._channels.keys():
            self._channels = {c.pk: c for c in Channel.objects.filter(shop_id=self.shop_id)}
        for message in messages:
            message.channel = self._channels[message.channel_id]
        if messages:
            answer = self._pool.apply_async(reader.read, (texts_of(messages),))
            self._waiting.append((messages, answer))

    def collect(self, *, wait: bool = False) -> None:
        """Tell the conversations of the readings that are back (all of them with `wait`),
        one transaction per batch sent, as `HistoryImport.triage` does."""
        while self._waiting and (wait or self._waiting[0][1].ready()):
            messages, result = self._waiting.popleft()
            readings = result.get()
            with transaction.atomic():
                read_now(messages, readings)
            self.read += len(messages)
