"""Every change to a conversation goes through one of these functions.

Views, rules, the API and the CLI call the same actions. Each one is atomic, locks the
conversation row, writes an `Event` (the timeline and the audit trail) and queues its side effects
with `transaction.on_commit`, so that nothing is sent for a change that was rolled back.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from comptoir.inbox import files
from comptoir.inbox.models import (
    Attachment,
    Channel,
    Conversation,
    DeliveryState,
    Direction,
    Event,
    EventKind,
    Message,
    Priority,
    Status,
    Tag,
)
from comptoir.lib.html import sanitize
from comptoir.lib.text import snippet

logger = logging.getLogger("comptoir.inbox")

if TYPE_CHECKING:
    from comptoir.accounts.models import User
    from comptoir.orders.models import Order


@dataclass(frozen=True)
class NewAttachment:
    filename: str
    content_type: str
    data: bytes


def _check_actor(actor: User | None) -> None:
    if actor is not None and not actor.can_write:
        raise PermissionDenied(f"{actor.username} may not change conversations")


def _locked(conv: Conversation) -> Conversation:
    fresh = Conversation.objects.select_for_update().get(pk=conv.pk)
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
    return Event.objects.create(
        conversation=conv,
        kind=kind,
        actor=actor,
        actor_label=via or ("" if actor else "system"),
        data=data,
    )


def _sync(target: Conversation, source: Conversation) -> None:
    """Copy the saved state back into the caller's instance."""
    for f in Conversation._meta.concrete_fields:
        setattr(target, f.attname, getattr(source, f.attname))


# -- messages ----------------------------------------------------------------------------------


@transaction.atomic
def reply(
    conv: Conversation,
    *,
    actor: User | None,
    text: str,
    html: str = "",
    attachments: Iterable[NewAttachment] = (),
    then_status: str | None = None,
    is_auto: bool = False,
    via: str = "",
) -> Message:
    """Queue a reply to the buyer; a task delivers it through the channel's connector."""
    _check_actor(actor)
    if not text.strip():
        raise ValidationError("a reply cannot be empty")
    if then_status == Status.SNOOZED:
        raise ValidationError("use snooze_conversation to snooze (it needs a date)")
    locked = _locked(conv)
    now = timezone.now()
    message = Message.objects.create(
        conversation=locked,
        channel_id=locked.channel_id,
        direction=Direction.OUT,
        author=actor,
        author_name=actor.display_name if actor else "",
        subject=_reply_subject(locked.subject),
        text=text,
        html=sanitize(html),
        is_auto=is_auto,
        delivery_state=DeliveryState.QUEUED,
        received_at=now,
        created_at=now,
    )
    _attach(message, attachments)
    locked.last_outbound_at = now
    locked.last_message_at = now
    locked.message_count += 1
    locked.snippet = snippet(text)
    # An auto-reply tells the buyer we got it; it is not the answer the marketplace waits for.
    if not is_auto:
        if locked.first_response_at is None:
            locked.first_response_at = now
        locked.needs_reply = False
        locked.respond_by = None
    changes = {}
    if then_status and then_status != locked.status:
        changes = _apply_status(locked, then_status, now, None)
    locked.save()
    _event(locked, EventKind.REPLIED, actor, via, message_id=message.pk, is_auto=is_auto, **changes)
    _sync(conv, locked)
    from comptoir.inbox.tasks import send_message

    transaction.on_commit(lambda: send_message.enqueue(message.pk))
    return message


@transaction.atomic
def add_note(
    conv: Conversation,
    *,
    actor: User | None,
    text: str,
    attachments: Iterable[NewAttachment] = (),
    via: str = "",
) -> Message:
    """An internal note: seen by agents only, never sent."""
    _check_actor(actor)
    if not text.strip():
        raise ValidationError("a note cannot be empty")
    locked = _locked(conv)
    now = timezone.now()
    message = Message.objects.create(
        conversation=locked,
        channel_id=locked.channel_id,
        direction=Direction.NOTE,
        author=actor,
        author_name=actor.display_name if actor else "",
        text=text,
        received_at=now,
        created_at=now,
    )
    _attach(message, attachments)
    Conversation.objects.filter(pk=locked.pk).update(message_count=F("message_count") + 1)
    conv.message_count = locked.message_count + 1
    _event(locked, EventKind.NOTE_ADDED, actor, via, message_id=message.pk)
    if "@" in text:
        from comptoir.notifications.actions import notify_mentions

        notify_mentions(locked.pk, text, actor_id=actor.pk if actor else None)
    return message


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


@transaction.atomic
def record_delivery(
    message: Message,
    *,
    external_id: str,
    sent_at: datetime | None,
    message_id: str = "",
    thread_id: str = "",
) -> None:
    """The connector delivered the message (`message_id`: the email Message-ID it carried, so
    that the buyer's answer threads back by In-Reply-To)."""
    fields: dict[str, Any] = {
        "delivery_state": DeliveryState.SENT,
        "external_id": external_id,
        "sent_at": sent_at or timezone.now(),
        "delivery_error": "",
    }
    if message_id:
        fields["message_id"] = message_id
    if external_id:
        # A poll may have brought our own answer back before this send was recorded (its
        # answer was lost, then found): that copy is this message; keep one.
        copies = Message.objects.filter(
            channel_id=message.channel_id, external_id=external_id, direction=Direction.OUT
        ).exclude(pk=message.pk)
        for copy in copies:
            Conversation.objects.filter(pk=copy.conversation_id).update(
                message_count=F("message_count") - 1
            )
            copy.delete()
    Message.objects.filter(pk=message.pk).update(**fields)
    if thread_id:  # our message opened the marketplace thread: the buyer's answers join it
        Conversation.objects.filter(pk=message.conversation_id, external_thread_id="").update(
            external_thread_id=thread_id[:255]
        )
    _event(message.conversation, EventKind.DELIVERED, None, "system", message_id=message.pk)


@transaction.atomic
def record_delivery_failure(message: Message, *, error: str, final: bool) -> None:
    """A send failed: `final` ends it as failed (shown to the agent), else it waits for a retry."""
    state = DeliveryState.FAILED if final else DeliveryState.QUEUED
    Message.objects.filter(pk=message.pk).update(delivery_state=state, delivery_error=error[:5000])
    if final:
        _event(
            message.conversation,
            EventKind.DELIVERY_FAILED,
            None,
            "system",
            message_id=message.pk,
            error=error[:500],
        )
        # The buyer has not been answered after all (an auto-reply never was the answer): back
        # in the queue, even if "send and resolve" had closed it.
        if not message.is_auto:
            conv = Conversation.objects.select_for_update().get(pk=message.conversation_id)
            conv.needs_reply = True
            if conv.status != Status.OPEN:
                data = _apply_status(conv, Status.OPEN, timezone.now(), None)
                _event(conv, EventKind.STATUS_CHANGED, None, "system", **data)
            conv.save()


def request_channel_poll(channel_id: int) -> None:
    """Poll one channel now (its source said something new is there)."""
    from comptoir.inbox.tasks import poll_channel

    transaction.on_commit(functools.partial(poll_channel.enqueue, channel_id))


def request_poll(*, marketplace: str) -> list[int]:
    """A marketplace said (by mail) that something new is waiting: poll its channels now
    rather than at the next tick. Returns the channels queued; none when no channel of that
    marketplace has a connector that fetches (the caller then keeps the notification)."""
    from comptoir.connectors.registry import CONNECTORS, connector_class
    from comptoir.inbox.tasks import poll_channel

    channels = Channel.objects.filter(
        marketplace=marketplace, is_active=True, is_healthy=True, kind__in=list(CONNECTORS)
    ).exclude(kind="email")
    ids = [c.pk for c in channels if connector_class(c.kind).can_fetch()]
    for channel_id in ids:
        transaction.on_commit(functools.partial(poll_channel.enqueue, channel_id))
    return ids


@transaction.atomic
def record_bounce(*, channel_id: int, message_id: str, reason: str) -> Message | None:
    """A delivery report says our message never reached the buyer: it ends failed with the
    reason (once: a report read again changes nothing). Returns the message, if it is ours."""
    message = (
        Message.objects.select_related("conversation")
        .filter(channel_id=channel_id, direction=Direction.OUT, message_id=message_id)
        .exclude(message_id="")
        .exclude(delivery_state=DeliveryState.FAILED)
        .first()
    )
    if message is not None:
        record_delivery_failure(message, error=f"bounced: {reason}", final=True)
    return message


@transaction.atomic
def retry_delivery(message: Message, *, actor: User | None) -> None:
    """Queue a failed message again (an agent pressed "retry")."""
    _check_actor(actor)
    updated = Message.objects.filter(pk=message.pk, delivery_state=DeliveryState.FAILED).update(
        delivery_state=DeliveryState.QUEUED, delivery_error=""
    )
    if not updated:
        raise ValidationError("only a failed message can be sent again")
    from comptoir.inbox.tasks import send_message

    transaction.on_commit(lambda: send_message.enqueue(message.pk))


# -- conversation state ------------------------------------------------------------------------


@transaction.atomic
def assign_conversation(
    conv: Conversation, *, assignee: User | None, actor: User | None, via: str = ""
) -> None:
    _check_actor(actor)
    locked = _locked(conv)
    if locked.assignee_id == (assignee.pk if assignee else None):
        return
    previous = locked.assignee_id
    locked.assignee = assignee
    locked.save(update_fields=["assignee", "updated_at"])
    if assignee is None:
        _event(locked, EventKind.UNASSIGNED, actor, via, previous=previous)
    else:
        _event(
            locked,
            EventKind.ASSIGNED,
            actor,
            via,
            assignee=assignee.pk,
            assignee_name=assignee.display_name,
            previous=previous,
        )
        # Nobody needs telling that they took a conversation themselves.
        if actor is None or actor.pk != assignee.pk:
            from comptoir.notifications.actions import Kind, notify

            notify(
                Kind.ASSIGNED,
                conversations=[locked.pk],
                users=[assignee.pk],
                actor_id=actor.pk if actor else None,
            )
    _sync(conv, locked)


def unassign_conversation(conv: Conversation, *, actor: User | None, via: str = "") -> None:
    assign_conversation(conv, assignee=None, actor=actor, via=via)


@transaction.atomic
def link_order(
    conv: Conversation, *, order: Order | None, actor: User | None, via: str = ""
) -> None:
    """Show this order beside the conversation (None unlinks): an agent's choice, or a
    connector that learnt which order the buyer means."""
    _check_actor(actor)
    locked = _locked(conv)
    if order is not None and order.shop_id != locked.shop_id:
        raise ValidationError(f"order {order.external_id} belongs to another shop")
    if locked.order_id == (order.pk if order else None):
        return
    previous = locked.order_id
    locked.order = order
    if order is not None:
        locked.order_number = order.external_id
    locked.save(update_fields=["order", "order_number", "updated_at"])
    _event(
        locked,
        EventKind.ORDER_LINKED,
        actor,
        via,
        order=order.pk if order else None,
        order_number=order.external_id if order else "",
        previous=previous,
    )
    _sync(conv, locked)


def link_conversations_to_order(order: Order) -> int:
    """An order stored after the buyer wrote about it: the shop's conversations that name it
    and show no order yet get it. Returns how many."""
    convs = Conversation.objects.filter(
        shop_id=order.shop_id,
        order_number=order.external_id,
        order__isnull=True,
        deleted_at__isnull=True,
        merged_into__isnull=True,
    )
    linked = 0
    for conv in convs:
        link_order(conv, order=order, actor=None, via="orders")
        linked += 1
    return linked


@transaction.atomic
def assign_team(conv: Conversation, *, team_id: int | None, actor: User | None) -> None:
    _check_actor(actor)
    locked = _locked(conv)
    if locked.team_id == team_id:
        return
    previous = locked.team_id
    locked.team_id = team_id
    locked.save(update_fields=["team", "updated_at"])
    _event(locked, EventKind.ASSIGNED, actor, team=team_id, previous_team=previous)
    _sync(conv, locked)


@transaction.atomic
def tag_conversation(conv: Conversation, *, tag: str, actor: User | None, via: str = "") -> None:
    _check_actor(actor)
    name = tag.strip()[:64]
    if not name:
        raise ValidationError("a tag needs a name")
    locked = _locked(conv)
    tag_obj, _ = Tag.objects.get_or_create(name=name)
    if locked.tags.filter(pk=tag_obj.pk).exists():
        return
    locked.tags.add(tag_obj)
    _event(locked, EventKind.TAGGED, actor, via, tag=name)


@transaction.atomic
def untag_conversation(conv: Conversation, *, tag: str, actor: User | None, via: str = "") -> None:
    _check_actor(actor)
    locked = _locked(conv)
    tag_obj = Tag.objects.filter(name=tag.strip()[:64]).first()
    if tag_obj is None or not locked.tags.filter(pk=tag_obj.pk).exists():
        return
    locked.tags.remove(tag_obj)
    _event(locked, EventKind.UNTAGGED, actor, via, tag=tag_obj.name)


def _apply_status(
    conv: Conversation, status: str, now: datetime, snoozed_until: datetime | None
) -> dict[str, Any]:
    if status not in Status.values:
        raise ValidationError(f"unknown status {status!r} (use {', '.join(Status.values)})")
    previous = conv.status
    conv.status = status
    conv.snoozed_until = snoozed_until if status == Status.SNOOZED else None
    if status == Status.RESOLVED:
        conv.resolved_at = now
        # Resolving says no answer is owed (a "thank you" needs none).
        conv.needs_reply = False
        conv.respond_by = None
    elif previous == Status.RESOLVED:
        conv.resolved_at = None
        conv.reopened_count += 1
    return {"previous": previous, "status": status}


@transaction.atomic
def set_status(conv: Conversation, *, status: str, actor: User | None, via: str = "") -> None:
    _check_actor(actor)
    locked = _locked(conv)
    if status == Status.SNOOZED:
        raise ValidationError("use snooze_conversation to snooze (it needs a date)")
    if locked.status == status:
        return
    data = _apply_status(locked, status, timezone.now(), None)
    locked.save()
    _event(locked, EventKind.STATUS_CHANGED, actor, via, **data)
    _sync(conv, locked)


@transaction.atomic
def snooze_conversation(
    conv: Conversation, *, until: datetime, actor: User | None, via: str = ""
) -> None:
    _check_actor(actor)
    now = timezone.now()
    if until <= now:
        raise ValidationError("snooze until a time in the future")
    locked = _locked(conv)
    data = _apply_status(locked, Status.SNOOZED, now, until)
    locked.save()
    _event(locked, EventKind.SNOOZED, actor, via, until=until.isoformat(), **data)
    _sync(conv, locked)


def wake_snoozed(now: datetime | None = None) -> int:
    """Reopen conversations whose snooze has ended; returns how many."""
    now = now or timezone.now()
    woken = 0
    due = Conversation.objects.filter(status=Status.SNOOZED, snoozed_until__lte=now)
    for conv in due.only("pk").iterator():
        with transaction.atomic():
            locked = Conversation.objects.select_for_update().get(pk=conv.pk)
            if locked.status != Status.SNOOZED or (
                locked.snoozed_until is not None and locked.snoozed_until > now
            ):
                continue  # an agent moved it, or snoozed it again, meanwhile
            data = _apply_status(locked, Status.OPEN, now, None)
            locked.save()
            _event(locked, EventKind.STATUS_CHANGED, None, "snooze", **data)
            woken += 1
    return woken


@transaction.atomic
def set_priority(conv: Conversation, *, priority: int, actor: User | None, via: str = "") -> None:
    _check_actor(actor)
    if priority not in Priority.values:
        raise ValidationError(f"unknown priority {priority!r}")
    locked = _locked(conv)
    if locked.priority == priority:
        return
    previous = locked.priority
    locked.priority = priority
    locked.save(update_fields=["priority", "updated_at"])
    _event(locked, EventKind.PRIORITY_CHANGED, actor, via, previous=previous, priority=priority)
    _sync(conv, locked)


@transaction.atomic
def archive_conversation(conv: Conversation, *, actor: User | None, archived: bool = True) -> None:
    _check_actor(actor)
    locked = _locked(conv)
    if locked.archived == archived:
        return
    locked.archived = archived
    locked.save(update_fields=["archived", "updated_at"])
    _event(locked, EventKind.ARCHIVED if archived else EventKind.UNARCHIVED, actor)
    _sync(conv, locked)


@transaction.atomic
def delete_conversation(conv: Conversation, *, actor: User | None) -> None:
    """Soft delete: hidden at once, purged after COMPTOIR_DELETED_RETENTION_DAYS."""
    _check_actor(actor)
    locked = _locked(conv)
    locked.deleted_at = timezone.now()
    locked.save(update_fields=["deleted_at", "updated_at"])
    _event(locked, EventKind.DELETED, actor)
    _sync(conv, locked)


@transaction.atomic
def restore_conversation(conv: Conversation, *, actor: User | None) -> None:
    _check_actor(actor)
    locked = Conversation.objects.select_for_update().get(pk=conv.pk)
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
    _sync(conv, locked)


def purge_deleted(older_than: datetime) -> int:
    """Hard-delete conversations soft-deleted before `older_than` (their messages go too)."""
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
        Conversation.objects.filter(pk__in=ids).delete()
    return len(ids)


@transaction.atomic
def merge_conversations(
    source: Conversation, *, into: Conversation, actor: User | None
) -> Conversation:
    """Move every message and event of `source` into `into`; `source` stays as a pointer."""
    _check_actor(actor)
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
    agg = Message.objects.filter(conversation=dst).aggregate(
        first_in=Min("created_at", filter=Q(direction=Direction.IN)),
    )
    dst.first_inbound_at = agg["first_in"]
    dst.last_inbound_at = _latest(dst.last_inbound_at, src.last_inbound_at)
    dst.last_outbound_at = _latest(dst.last_outbound_at, src.last_outbound_at)
    if src.last_message_at and (
        dst.last_message_at is None or src.last_message_at > dst.last_message_at
    ):
        dst.snippet = src.snippet
    dst.last_message_at = _latest(dst.last_message_at, src.last_message_at)
    dst.first_response_at = _earliest(dst.first_response_at, src.first_response_at)
    dst.message_count += src.message_count
    dst.needs_reply = dst.needs_reply or src.needs_reply
    dst.respond_by = _earliest(dst.respond_by, src.respond_by)
    dst.order_number = dst.order_number or src.order_number
    dst.order_id = dst.order_id or src.order_id
    if src.needs_reply and dst.status == Status.RESOLVED:
        _apply_status(dst, Status.OPEN, timezone.now(), None)
    dst.save()
    src.merged_into = dst
    src.message_count = 0
    src.needs_reply = False
    src.respond_by = None
    src.save()
    _event(dst, EventKind.MERGED, actor, merged_from=src.pk, messages=moved)
    _event(src, EventKind.MERGED, actor, merged_into=dst.pk)
    _sync(into, dst)
    _sync(source, src)
    return dst


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(filter(None, [a, b]), default=None)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(filter(None, [a, b]), default=None)


# -- bulk --------------------------------------------------------------------------------------

BULK_ACTIONS: dict[str, Callable[..., Any]] = {
    "assign": assign_conversation,
    "unassign": unassign_conversation,
    "tag": tag_conversation,
    "untag": untag_conversation,
    "set_status": set_status,
    "snooze": snooze_conversation,
    "set_priority": set_priority,
    "archive": archive_conversation,
    "delete": delete_conversation,
}


@dataclass
class BulkResult:
    done: list[int]
    failed: dict[int, str]


def bulk_apply(
    action: str, conversations: Iterable[Conversation], *, actor: User | None, **kwargs: Any
) -> BulkResult:
    """Apply one action to many conversations; each succeeds or fails on its own."""
    try:
        func = BULK_ACTIONS[action]
    except KeyError:
        raise ValidationError(f"unknown bulk action {action!r}") from None
    _check_actor(actor)
    result = BulkResult(done=[], failed={})
    for conv in conversations:
        try:
            func(conv, actor=actor, **kwargs)
        except (ValidationError, PermissionDenied) as exc:
            result.failed[conv.pk] = "; ".join(getattr(exc, "messages", [str(exc)]))
        except ObjectDoesNotExist:
            result.failed[conv.pk] = f"conversation {conv.pk} no longer exists"
        else:
            result.done.append(conv.pk)
    return result


# -- channels ----------------------------------------------------------------------------------


def record_channel_error(channel: Channel, *, error: str, permanent: bool) -> bool:
    """Keep the channel's last error; a permanent one marks it unhealthy.

    Returns True when the channel has just turned unhealthy: then, and only then, the owners
    and admins are told by mail (not at every poll that fails the same way).
    """
    now = timezone.now()
    fields: dict[str, Any] = {"last_error": error[:5000], "last_error_at": now}
    if not permanent:
        Channel.objects.filter(pk=channel.pk).update(**fields)
        return False
    with transaction.atomic():
        turned = Channel.objects.filter(pk=channel.pk, is_healthy=True).update(
            is_healthy=False, **fields
        )
        if not turned:
            Channel.objects.filter(pk=channel.pk).update(**fields)
        else:
            _event(
                None,
                EventKind.CHANNEL_UNHEALTHY,
                None,
                "system",
                channel=channel.pk,
                error=error[:500],
            )
            # Owners and admins are told (by mail, webhook or digest, as each prefers).
            from comptoir.notifications.actions import Kind, notify

            notify(Kind.CHANNEL_UNHEALTHY, channel_id=channel.pk, text=error[:2000])
    channel.is_healthy, channel.last_error = False, error
    return bool(turned)


def save_channel_cursor(channel: Channel, cursor: dict[str, Any]) -> None:
    """Keep a connector's cursor before its poll ends: for a source that forgets what it
    served once read (Rakuten's to-do list), the next poll must know it too."""
    Channel.objects.filter(pk=channel.pk).update(cursor=cursor)
    channel.cursor = cursor


def record_channel_success(channel: Channel, *, cursor: dict[str, Any] | None = None) -> None:
    fields: dict[str, Any] = {"last_sync_at": timezone.now(), "is_healthy": True}
    if cursor is not None:
        fields["cursor"] = cursor
    if Channel.objects.filter(pk=channel.pk, is_healthy=False).update(**fields):
        _event(None, EventKind.CHANNEL_RECOVERED, None, "system", channel=channel.pk)
    else:
        Channel.objects.filter(pk=channel.pk).update(**fields)
    channel.is_healthy = True
    if cursor is not None:
        channel.cursor = cursor
