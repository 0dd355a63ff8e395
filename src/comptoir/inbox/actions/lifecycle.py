"""Deleting, restoring, purging and merging conversations."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from comptoir import audit
from comptoir.inbox import files, hooks, merge, permissions
from comptoir.inbox.actions.common import _event, _locked, _sync
from comptoir.inbox.models import (
    Attachment,
    Conversation,
    Event,
    EventKind,
    InboundRecord,
    Message,
)

if TYPE_CHECKING:
    from comptoir.accounts.models import User


@transaction.atomic
def delete_conversation(conv: Conversation, *, actor: User | None) -> None:
    """Soft delete: hidden at once, in the admins' trash (`permissions.trash`) until restored or
    purged after COMPTOIR_DELETED_RETENTION_DAYS. Who may: `permissions.check_change`."""
    locked = _locked(conv)
    permissions.check_change(actor, locked)
    locked.deleted_at = timezone.now()
    locked.save(update_fields=["deleted_at", "updated_at"])
    _event(locked, EventKind.DELETED, actor)
    audit.record("conversation.deleted", actor=actor, obj=locked, label=f"#{locked.pk}")
    _sync(conv, locked)


@transaction.atomic
def restore_conversation(conv: Conversation, *, actor: User | None) -> None:
    """A deleted conversation back in the inbox, from the trash: `permissions.check_restore`."""
    locked = Conversation.objects.select_for_update().get(pk=conv.pk)
    permissions.check_restore(actor, locked)
    if locked.deleted_at is None:
        return
    locked.deleted_at = None
    try:
        with transaction.atomic():
            locked.save(update_fields=["deleted_at", "updated_at"])
    except IntegrityError:
        raise ValidationError(
            "a newer conversation continues this thread: merge this one into it instead"
        ) from None
    _event(locked, EventKind.RESTORED, actor)
    audit.record("conversation.restored", actor=actor, obj=locked, label=f"#{locked.pk}")
    _sync(conv, locked)


def purge_deleted(older_than: datetime) -> int:
    """Hard-delete conversations soft-deleted before `older_than`, with everything they hold:
    messages, events, attachments, the raw inbound records and the files (attachments, a mail's
    .eml) no other message names. Run outside a transaction: the files go once the rows are
    gone for good."""
    ids = list(
        Conversation.objects.filter(deleted_at__lt=older_than).values_list("pk", flat=True)[:1000]
    )
    if not ids:
        return 0
    with transaction.atomic():
        # A merged conversation is an empty pointer to its target: it goes with it.
        frontier = ids
        while frontier:
            frontier = list(
                Conversation.objects.filter(merged_into_id__in=frontier).values_list(
                    "pk", flat=True
                )
            )
            ids.extend(frontier)
        messages = Message.objects.filter(conversation_id__in=ids)
        sources = set(messages.exclude(source_sha256="").values_list("source_sha256", flat=True))
        attached = set(
            Attachment.objects.filter(message__conversation_id__in=ids)
            .exclude(sha256="")
            .values_list("sha256", flat=True)
        )
        records = set(
            messages.filter(inbound_record__isnull=False).values_list(
                "inbound_record_id", flat=True
            )
        )
        Conversation.objects.filter(pk__in=ids).delete()
        hooks.conversations_purged.emit(ids)
        # The payload as received is the buyer's message too (failed ones are not linked).
        InboundRecord.objects.filter(pk__in=records).delete()
        audit.record(
            "conversation.purged",
            actor=None,
            object_type="inbox.conversation",
            label=f"{len(ids)} conversation(s)",
            changes={"ids": ids[:100], "count": len(ids)},
        )
    files.discard(sources | attached, still_used=_digests_in_use)
    return len(ids)


def _digests_in_use(digests: set[str]) -> set[str]:
    """The digests that a message still standing (its .eml) or an attachment names."""
    used = set(
        Message.objects.filter(source_sha256__in=digests).values_list("source_sha256", flat=True)
    )
    used |= set(Attachment.objects.filter(sha256__in=digests).values_list("sha256", flat=True))
    return used


@transaction.atomic
def merge_conversations(
    source: Conversation, *, into: Conversation, actor: User | None
) -> Conversation:
    """Move every message and event of `source` into `into`; `source` stays as a pointer. The
    actor must see both (`permissions.check_merge`)."""
    permissions.check_merge(actor, source, into)
    if source.pk == into.pk:
        raise ValidationError("cannot merge a conversation into itself")
    # Lock both rows in id order, whichever way round they are merged: no deadlock.
    rows = Conversation.objects.select_for_update().filter(pk__in=[source.pk, into.pk])
    locked = {c.pk: c for c in rows.order_by("pk")}
    src, dst = locked[source.pk], locked[into.pk]
    for conv in (src, dst):
        if conv.deleted_at is not None or conv.merged_into_id is not None:
            raise ValidationError(f"conversation {conv.pk} is deleted or already merged")
    moved = Message.objects.filter(conversation=src).update(conversation=dst)
    Event.objects.filter(conversation=src).update(conversation=dst)
    dst.tags.add(*src.tags.all())
    # Deadlines, response times, assignment and status from both (see `merge.absorb`): a
    # question one of them answered later no longer waits.
    previous = dst.status
    if merge.absorb(dst, src):
        _event(dst, EventKind.STATUS_CHANGED, actor, previous=previous, status=dst.status)
    dst.save()
    src.merged_into = dst
    src.save()
    _event(dst, EventKind.MERGED, actor, merged_from=src.pk, messages=moved)
    _event(src, EventKind.MERGED, actor, merged_into=dst.pk)
    _sync(into, dst)
    _sync(source, src)
    return dst
