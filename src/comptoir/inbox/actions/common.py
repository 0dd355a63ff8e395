"""Shared by the action modules: locking, events, deadlines, attachments."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet

from comptoir.inbox import deadlines, fastsql, files, hooks
from comptoir.inbox.models import (
    Attachment,
    Conversation,
    Event,
    Message,
    Status,
)
from comptoir.inbox.prepared import Prepared
from comptoir.sla.policies import deadlines_for

if TYPE_CHECKING:
    from comptoir.accounts.models import User


@dataclass(frozen=True)
class NewAttachment:
    filename: str
    content_type: str
    data: bytes


def _check_actor(actor: User | None) -> None:
    if actor is not None and not actor.can_write:
        raise PermissionDenied(f"{actor.username} may not change conversations")


def _lock_query(only: tuple[str, ...], conv: int) -> QuerySet[Conversation]:
    rows = Conversation.objects.select_for_update().filter(pk=conv)
    return rows.only(*only, "deleted_at", "merged_into_id") if only else rows


# Compiled once per `only` (the ORM's compilation cost more than the database's work: a rule
# tagging conversations locks one per message).
_LOCK = Prepared(_lock_query, "conv")


def _locked(conv: Conversation, *, only: Sequence[str] = ()) -> Conversation:
    """The conversation locked for this transaction; `only` these columns (the rest deferred)
    when the caller changes no field of its own (a rule tagging every other message)."""
    shape = tuple(only)
    found = _LOCK.all(shape, {"only": shape}, conv=conv.pk)
    if not found:
        raise Conversation.DoesNotExist("Conversation matching query does not exist.")
    fresh = found[0]
    if fresh.deleted_at is not None:
        raise ValidationError(f"conversation {conv.pk} is deleted")
    if fresh.merged_into_id is not None:
        raise ValidationError(f"conversation {conv.pk} was merged into {fresh.merged_into_id}")
    return fresh


def _event(
    conv: Conversation | None,
    kind: str,
    actor: User | None,
    via: str = "",
    **data: Any,
) -> Event:
    event = Event(
        conversation=conv,
        kind=kind,
        actor=actor,
        actor_label=via or ("" if actor else "system"),
        data=data,
    )
    # The row `objects.create` writes, without compiling its INSERT (no one listens to Event's
    # `post_save`: what follows an event listens to `events_written`).
    fastsql.insert([event])
    hooks.events_written.emit([event])
    return event


@transaction.atomic
def write_events(events: Sequence[Event]) -> list[Event]:
    """Timeline rows written in bulk by a job (an order's news on its conversations): stored in
    one statement, then announced like any action's event. The rows `bulk_create` would write,
    without its compilation (a third of triage's database work on an import)."""
    written = list(events)
    fastsql.insert(written)
    if written:
        hooks.events_written.emit(written)
    return written


def _sync(target: Conversation, source: Conversation) -> None:
    """Copy the saved state back into the caller's instance."""
    for f in Conversation._meta.concrete_fields:
        setattr(target, f.attname, getattr(source, f.attname))


# The deadline's rules live in `inbox.deadlines`, shared with ingest and merges.
_clear_deadline = deadlines.clear_deadline


def _set_deadline(conv: Conversation, received_at: datetime) -> None:
    """A buyer message received at `received_at` waits for an answer again."""
    respond_by, at_risk = deadlines_for(
        conv.channel_id, received_at, first=conv.first_response_at is None
    )
    deadlines.set_deadline(conv, respond_by, at_risk)


def _reply_subject(subject: str) -> str:
    if not subject or subject.lower().startswith(("re:", "re :", "aw:", "r:")):
        return subject
    return f"Re: {subject}"[:500]


def _attach(message: Message, attachments: Iterable[NewAttachment]) -> None:
    rows = [
        Attachment(
            message=message,
            filename=a.filename[:255] or "attachment",
            content_type=a.content_type or "application/octet-stream",
            size=len(a.data),
            sha256=files.store_bytes(a.data),
        )
        for a in attachments
    ]
    if rows:
        Attachment.objects.bulk_create(rows)


def _apply_status(
    conv: Conversation, status: str, now: datetime, snoozed_until: datetime | None
) -> dict[str, Any]:
    if status not in Status.values:
        raise ValidationError(f"unknown status {status!r} (use {', '.join(Status.values)})")
    previous = deadlines.change_status(conv, status, now, snoozed_until)
    return {"previous": previous, "status": status}
