"""What the channels' fault-injection tests share: a killed worker, a poll that dies halfway,
the sends of a round, the agent's replies of a round, and a simulator that must end clean."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import pytest

from comptoir.accounts.models import User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions, tasks
from comptoir.inbox.actions import NewAttachment
from comptoir.inbox.models import Channel, Conversation, DeliveryState, Message
from comptoir.inbox.tasks import poll_channel, send_message
from comptoir.lib import http
from tests.send_support import settle_time_passes

# Captured at import, before any test swaps it for a dying one.
REAL_INGEST_MANY = tasks.ingest_many


class Killed(BaseException):
    """The worker dies (SIGKILL, OOM): not an Exception, so nothing on the way may catch it."""


class Simulator(Protocol):
    violations: list[Any]

    def start(self) -> None: ...

    def stop(self) -> None: ...


def record_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries and rate limits record their waits instead of waiting."""
    waited: list[float] = []
    monkeypatch.setattr(http, "sleep", waited.append)
    return waited


@contextlib.contextmanager
def running(simulator: Simulator, forget: Callable[[], None] = lambda: None) -> Iterator[None]:
    """The simulator serves for the test, which must end without a contract violation; the
    connector's per-process clients or tokens are forgotten on both sides of it."""
    forget()
    simulator.start()
    try:
        yield
        assert simulator.violations == []
    finally:
        simulator.stop()
        forget()


def kill_ingest_after(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """The next poll's worker dies after storing `count` messages."""

    def dying(items: Iterable[InboundMessage], **kwargs: Any) -> Any:
        def until_killed() -> Iterator[InboundMessage]:
            for n, item in enumerate(items):
                if n == count:
                    raise Killed
                yield item

        return REAL_INGEST_MANY(until_killed(), **kwargs)

    monkeypatch.setattr(tasks, "ingest_many", dying)


def poll_killed_after(monkeypatch: pytest.MonkeyPatch, channel: Channel, count: int) -> None:
    """A poll whose worker dies after `count` messages; the next worker ingests normally."""
    kill_ingest_after(monkeypatch, count)
    with pytest.raises(Killed):
        poll_channel.call(channel.pk)
    monkeypatch.setattr(tasks, "ingest_many", REAL_INGEST_MANY)


def send_all_queued(channel: Channel) -> None:
    """One attempt at every queued reply, after time enough for an unanswered post to land.
    A killed worker's message stays "sending", for the sweep."""
    settle_time_passes()
    queued = Message.objects.filter(channel=channel, delivery_state=DeliveryState.QUEUED)
    for pk in queued.values_list("pk", flat=True):
        with contextlib.suppress(Killed):
            send_message.call(pk)


def reply_to_waiting(
    channel: Channel,
    agent: User,
    replies: list[str],
    round_: int,
    most: int,
    files: Callable[[int], list[NewAttachment]] = lambda n: [],
) -> None:
    """The agent answers up to `most` conversations waiting for a reply, oldest first; each
    reply's text is unique and recorded in `replies`; `files(n)` are the n-th reply's files."""
    waiting = Conversation.objects.filter(channel=channel, needs_reply=True)
    for conv in waiting.order_by("pk")[:most]:
        text = f"Réponse {len(replies)} (tour {round_})"
        attachments = files(len(replies))
        replies.append(text)
        actions.reply(conv, actor=agent, text=text, attachments=attachments)
