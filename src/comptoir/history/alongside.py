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
from collections import deque
from collections.abc import Iterable
from multiprocessing.pool import AsyncResult, Pool
from types import TracebackType

from django.db import transaction

from comptoir.inbox.models import Channel, Conversation, Direction, Message
from comptoir.triage import reading, registry, training
from comptoir.triage.intent import Model
from comptoir.triage.tasks import Text, read_now, read_texts, texts_of
from comptoir.triage.training import Mood

type Thread = tuple[int, str]  # (channel id, the export's conversation id)

# The reading process's models, inherited from the parent when it forks (never pickled).
_models: tuple[Model, Mood] | None = None


def _keep(model: Model, mood: Mood) -> None:
    global _models
    _models = (model, mood)


def _read(texts: list[Text]) -> list[reading.Reading]:
    assert _models is not None, "the reading process starts with the models"
    return read_texts(texts, *_models)


class Alongside:
    """A reading process for the length of an import (a context manager). `send` the threads
    whose rows are all stored; `collect` tells the conversations whose readings are back."""

    def __init__(self, shop_id: int) -> None:
        self.shop_id = shop_id
        self.read = 0
        _version, model = registry.model()
        mood = training.mood_models()
        # Forked: the models (tens of MB) are shared, not pickled; the child touches no
        # database connection and leaves by `os._exit`, so the parent's stay open.
        self._pool: Pool = multiprocessing.get_context("fork").Pool(
            1, initializer=_keep, initargs=(model, mood)
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
            self._waiting.append((messages, self._pool.apply_async(_read, (texts_of(messages),))))

    def collect(self, *, wait: bool = False) -> None:
        """Tell the conversations of the readings that are back (all of them with `wait`),
        one transaction per batch sent, as `HistoryImport.triage` does."""
        while self._waiting and (wait or self._waiting[0][1].ready()):
            messages, result = self._waiting.popleft()
            readings = result.get()
            with transaction.atomic():
                read_now(messages, readings)
            self.read += len(messages)
