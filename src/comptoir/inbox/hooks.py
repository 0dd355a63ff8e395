"""What happens in the inbox, for the apps above it to react to.

The inbox never imports the apps that react to it (notifications, SLA, orders, automation):
it declares its events here and emits them; each app subscribes in its `AppConfig.ready`:

    from comptoir.inbox import hooks
    hooks.conversation_assigned.subscribe(tell_the_assignee)

Each event says when its subscribers run:
- inside the transaction of the action that emits it (the default): what a subscriber writes
  commits or rolls back with the change, and work outside the database (a task, a mail) is
  queued with `transaction.on_commit`, so that nothing leaves for a change that was undone;
- after commit (`after_commit=True`): the subscriber sees committed rows; its failure is logged
  and never undoes or hides what was stored.

Values the inbox asks for (the pre-send checks of a reply) are not events: they are ports with
a return value, registered the same way (`inbox.actions.register_presend_checker`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from django.db import transaction

if TYPE_CHECKING:
    from comptoir.accounts.models import User
    from comptoir.inbox.ingest.base import Stored
    from comptoir.inbox.models import Conversation, Event, Message

logger = logging.getLogger("comptoir.inbox")


class Hook[**P]:
    """One kind of event: subscribers are called with the values it is emitted with."""

    def __init__(self, name: str, *, after_commit: bool = False) -> None:
        self.name = name
        self.after_commit = after_commit
        self._subscribers: list[Callable[P, object]] = []

    def subscribe(self, subscriber: Callable[P, object]) -> None:
        """Call `subscriber` on each emit (once, however often it is subscribed)."""
        if subscriber not in self._subscribers:
            self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Callable[P, object]) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    @property
    def subscribers(self) -> tuple[Callable[P, object], ...]:
        return tuple(self._subscribers)

    def emit(self, *args: P.args, **kwargs: P.kwargs) -> None:
        if not self._subscribers:
            return
        if self.after_commit:
            transaction.on_commit(lambda: self._run_after_commit(*args, **kwargs))
            return
        for subscriber in list(self._subscribers):
            subscriber(*args, **kwargs)

    def _run_after_commit(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(*args, **kwargs)
            except Exception:  # a follow-up must never undo or hide what was stored
                logger.exception("%s: subscriber %s failed", self.name, subscriber)

    def __repr__(self) -> str:
        return f"<Hook {self.name}>"


# -- the inbox's events ------------------------------------------------------------------------

# Ingest stored new messages (a duplicate stores none): after commit, with what was stored.
messages_stored: Hook[[list[Stored]]] = Hook("messages stored", after_commit=True)

# Events (timeline rows) were written: by an action, one at a time, or in bulk
# (`inbox.actions.write_events`). The rules pump listens here.
events_written: Hook[[Sequence[Event]]] = Hook("events written")

# A conversation was given to `assignee` by `actor` (None: the system).
conversation_assigned: Hook[[Conversation, User, User | None]] = Hook("conversation assigned")

# An internal note was added by `actor` (mentions are read from its text).
note_added: Hook[[Message, User | None]] = Hook("note added")

# A reply was queued (`template_id`: the template its text came from).
reply_queued: Hook[[Message, int | None]] = Hook("reply queued")

# A channel stopped working, or has been failing long enough that someone must look (`text`:
# what to tell them).
channel_failing: Hook[[int, str]] = Hook("channel failing")

# An agent said the buyer's last message needs no answer: (conversation id, channel id).
no_response_needed: Hook[[int, int]] = Hook("no response needed", after_commit=True)

# Conversations were hard-deleted (the purge of the trash): the rows derived from them go too.
conversations_purged: Hook[[list[int]]] = Hook("conversations purged")
