"""Keeping the facts current: the inbox's events queue a recomputation of the conversations
they touched, once per transaction, in a background task (never on the live path). Each such
task marks the rollup's slices it touched and queues a rollup pass behind it, so that the
slices marked by all the facts tasks queued meanwhile are recomputed once, together."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.tasks import task

from comptoir.analytics import facts, rollup
from comptoir.analytics.models import ConversationFact, FactSweep
from comptoir.jobs import gathering
from comptoir.jobs.periodic import periodic
from comptoir.jobs.queues import BACKGROUND_PRIORITY, in_background

if TYPE_CHECKING:
    from comptoir.inbox.ingest.base import Stored
    from comptoir.inbox.models import Event

# Conversations per task: a busy poll is a few tasks, not one long one.
BATCH = 500

_local = threading.local()


class _Pending:
    """The conversations touched in the current transaction, queued once it commits."""

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.flushed = False

    def flush(self) -> None:
        self.flushed = True
        if gathering.later(GATHERED, _flush_gathered):
            # Committed inside a job of many transactions (the rules pump): queued once, at
            # its end, with the others'.
            _gathered().update(self.ids)
            self.ids.clear()
            return
        ids = sorted(self.ids)
        self.ids.clear()
        _enqueue(ids)


GATHERED = "analytics.refresh_facts"


def _gathered() -> set[int]:
    ids: set[int] | None = getattr(_local, "gathered", None)
    if ids is None:
        ids = _local.gathered = set()
    return ids


def _flush_gathered() -> None:
    ids = sorted(_gathered())
    _local.gathered = None
    _enqueue(ids)


def _enqueue(ids: list[int]) -> None:
    for start in range(0, len(ids), BATCH):
        in_background(refresh_facts).enqueue(ids[start : start + BATCH])


def touched(conversation_ids: Iterable[int]) -> None:
    """Queue the recomputation of these conversations' facts when the transaction commits
    (at once outside a transaction); however many events one transaction writes, one flush."""
    ids = {i for i in conversation_ids if i is not None}
    if not ids:
        return
    pending: _Pending | None = getattr(_local, "pending", None)
    connection = transaction.get_connection()
    # Still scheduled in this transaction? A rollback drops the callback (and so the batch):
    # then a new batch is started rather than adding to one that will never flush.
    scheduled = (
        pending is not None
        and not pending.flushed
        and any(item[1] == pending.flush for item in connection.run_on_commit)
    )
    if pending is None or not scheduled:
        pending = _Pending()
        _local.pending = pending
        pending.ids |= ids
        transaction.on_commit(pending.flush)
    else:
        pending.ids |= ids


def is_facts_refresh(callback: object) -> bool:
    """Whether an on-commit callback is this app's refresh (tests counting what an action
    queues on commit leave it out)."""
    return getattr(callback, "__func__", None) is _Pending.flush


def events_written(events: Sequence[Event]) -> None:
    """Subscribed to `inbox.hooks.events_written`."""
    touched(e.conversation_id for e in events if e.conversation_id is not None)


def messages_stored(stored: list[Stored]) -> None:
    """Subscribed to `inbox.hooks.messages_stored` (after commit)."""
    touched(s.conversation_id for s in stored)


@periodic("analytics.pending_deadlines", every=timedelta(minutes=15))
@task()
def refresh_pending() -> int:
    """Facts whose first wait is unanswered and still in time: recomputed, so that a deadline
    that passes with no event (the SLA sweep writes its events in SQL, without the hook)
    turns `within_sla` to False. Those are the open, unanswered conversations: few."""
    ids = list(
        ConversationFact.objects.filter(
            within_sla=None,
            first_inbound_at__isnull=False,
            first_response_at=None,
            no_response_needed=False,
        ).values_list("conversation_id", flat=True)
    )
    return facts.refresh(ids)


@periodic("analytics.lost_refreshes", every=timedelta(minutes=15))
@task()
def refresh_stale() -> int:
    """Facts older than a message or event of their conversation written since the last
    sweep, recomputed: their queued refresh was lost (a worker killed after the commit). The
    marks move on only once they are refreshed."""
    ids, marks = facts.stale()
    written = facts.refresh(ids)
    FactSweep.objects.bulk_create(
        marks, update_conflicts=True, unique_fields=["source"], update_fields=["checked_to"]
    )
    return written


@task()
def refresh_facts(conversation_ids: list[int]) -> int:
    """Recompute these conversations' facts from their raw rows; returns how many were kept.
    Their rollup slices are left marked for the rollup pass queued behind."""
    written = facts.refresh(conversation_ids, rollup_now=False)
    queue_rollup()
    return written


def queue_rollup() -> None:
    """A rollup pass, after the background work already queued (the facts tasks above all):
    the passes that find nothing left to do cost one query."""
    backend = refresh_rollup.get_backend()
    if backend.supports_priority:
        refresh_rollup.using(priority=BACKGROUND_PRIORITY - 1).enqueue()
    else:
        in_background(refresh_rollup).enqueue()


@periodic("analytics.rollup", every=timedelta(minutes=5))
@task()
def refresh_rollup() -> int:
    """Recompute the rollup's dirty slices, once each; returns how many. Periodic as well,
    for marks whose queued pass was lost (a worker stopped between the two)."""
    return rollup.refresh_dirty()
