"""Every change to a conversation goes through one of these functions.

Views, rules, the API and the CLI call the same actions. Each one is atomic, locks the
conversation row, writes an `Event` (the timeline and the audit trail) and queues its side effects
with `transaction.on_commit`, so that nothing is sent for a change that was rolled back.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from comptoir.inbox import files, merge
from comptoir.inbox.models import (
    Attachment,
    Channel,
    ChannelKind,
    ComposerDraft,
    Conversation,
    DeliveryState,
    Direction,
    Event,
    EventKind,
    Marketplace,
    Message,
    Presence,
    PresenceState,
    Priority,
    SavedView,
    Shop,
    SLAState,
    Status,
    Tag,
    ThreadRef,
)
from comptoir.inbox.queries import FILTER_PARAMS
from comptoir.lib.html import sanitize
from comptoir.lib.text import snippet
from comptoir.sla.policies import deadlines_for, policy_for

logger = logging.getLogger("comptoir.inbox")

# What a saved view keeps of the inbox URL: the view and its filters.
SAVED_VIEW_PARAMS = frozenset({"view", *FILTER_PARAMS})

if TYPE_CHECKING:
    from comptoir.accounts.models import User
    from comptoir.orders.models import Order


@dataclass(frozen=True)
class NewAttachment:
    filename: str
    content_type: str
    data: bytes


# -- pre-send checks ------------------------------------------------------------------------------
# Other apps (automation) register what to check before a reply leaves and what to do once it is
# queued; inbox knows none of them, so that it never imports upward.


@dataclass(frozen=True)
class Draft:
    """A reply about to be queued, as the pre-send checkers see it."""

    conversation: Conversation
    text: str
    html: str = ""
    attachments: tuple[NewAttachment, ...] = ()
    is_auto: bool = False
    actor: User | None = None


class CheckResultLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def level(self) -> str: ...  # "block" or "warn"
    @property
    def message(self) -> str: ...


# checker(draft, only_blocking) -> results; `only_blocking`: the caller wants no warnings, so
# slow warning-only checks (spelling) may be skipped.
PreSendChecker = Callable[[Draft, bool], Sequence[CheckResultLike]]
# listener(message, template_id): a reply was queued (template_id: the template it came from).
ReplyListener = Callable[[Message, "int | None"], None]
_presend_checkers: list[PreSendChecker] = []
_reply_listeners: list[ReplyListener] = []


def register_presend_checker(checker: PreSendChecker) -> None:
    if checker not in _presend_checkers:
        _presend_checkers.append(checker)


def register_reply_listener(listener: ReplyListener) -> None:
    if listener not in _reply_listeners:
        _reply_listeners.append(listener)


class ReplyRefused(ValidationError):
    """A pre-send check blocks this reply; `results` says which and where."""

    def __init__(self, results: Sequence[CheckResultLike]) -> None:
        self.results = list(results)
        super().__init__("; ".join(r.message for r in self.results), code="presend_check")


def presend_checks(draft: Draft, *, only_blocking: bool = False) -> list[CheckResultLike]:
    """What the registered checkers say about `draft` (blocking and warning results)."""
    results: list[CheckResultLike] = []
    for checker in _presend_checkers:
        results.extend(checker(draft, only_blocking))
    return results


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


# Called with every event an action writes, inside its transaction (the rules pump registers
# here to be run once that transaction commits).
AFTER_EVENT: list[Callable[[Event], None]] = []


def _event(
    conv: Conversation | None,
    kind: str,
    actor: User | None,
    via: str = "",
    **data: Any,
) -> Event:
    event = Event.objects.create(
        conversation=conv,
        kind=kind,
        actor=actor,
        actor_label=via or ("" if actor else "system"),
        data=data,
    )
    for hook in AFTER_EVENT:
        hook(event)
    return event


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
    template_id: int | None = None,
    warnings: list[CheckResultLike] | None = None,
) -> Message:
    """Queue a reply to the buyer; a task delivers it through the channel's connector.

    The registered pre-send checks run first, for agents, rules and the API alike: a blocking
    result raises `ReplyRefused` (nothing is stored); warnings do not stop it and are appended to
    `warnings` when the caller passes a list. `template_id` names the template the text came
    from (its use is counted by a reply listener).
    """
    _check_actor(actor)
    if not text.strip():
        raise ValidationError("a reply cannot be empty")
    if then_status == Status.SNOOZED:
        raise ValidationError("use snooze_conversation to snooze (it needs a date)")
    attachments = tuple(attachments)
    if _presend_checkers:
        draft = Draft(conv, text, html, attachments, is_auto, actor)
        results = presend_checks(draft, only_blocking=warnings is None)
        blocking = [r for r in results if r.level == "block"]
        if blocking:
            raise ReplyRefused(blocking)
        if warnings is not None:
            warnings.extend(r for r in results if r.level != "block")
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
    # An auto-reply tells the buyer we got it; it is not the answer the marketplace waits for
    # (unless the channel's SLA policy says it stops the clock).
    if not is_auto or policy_for(locked.channel_id).auto_reply_counts:
        if locked.first_response_at is None:
            locked.first_response_at = now
        _clear_deadline(locked)
    changes = {}
    if then_status and then_status != locked.status:
        changes = _apply_status(locked, then_status, now, None)
    locked.save()
    if template_id is not None:
        changes["template_id"] = template_id
    _event(locked, EventKind.REPLIED, actor, via, message_id=message.pk, is_auto=is_auto, **changes)
    _sent_from_draft(locked, actor)
    _sync(conv, locked)
    for listener in _reply_listeners:
        listener(message, template_id)
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
    _sent_from_draft(locked, actor)
    return message


def _sent_from_draft(conv: Conversation, actor: User | None) -> None:
    """What was being written is sent: the draft goes, and the others no longer see "replying"."""
    if actor is not None:
        ComposerDraft.objects.filter(conversation=conv, user=actor).delete()
        Presence.objects.filter(conversation=conv, user=actor).update(state=PresenceState.VIEWING)


@transaction.atomic
def mark_no_response_needed(conv: Conversation, *, actor: User | None, via: str = "") -> None:
    """The buyer's last message needs no answer ("thanks!"): its deadline is dropped, and the
    marketplace is told where its API allows it (the late-response rate then leaves it out, as
    the marketplace's own "no response needed" button does)."""
    _check_actor(actor)
    locked = _locked(conv)
    if not locked.needs_reply and locked.respond_by is None:
        return
    previous = locked.respond_by
    _clear_deadline(locked)
    locked.save()
    _event(
        locked,
        EventKind.NO_RESPONSE_NEEDED,
        actor,
        via,
        respond_by=previous.isoformat() if previous else None,
    )
    _sync(conv, locked)
    from comptoir.sla.tasks import sync_no_response_needed

    transaction.on_commit(functools.partial(sync_no_response_needed, locked.pk, locked.channel_id))


def _clear_deadline(conv: Conversation) -> None:
    conv.needs_reply = False
    conv.respond_by = None
    conv.sla_state = SLAState.NONE
    conv.sla_at_risk_at = None


def _set_deadline(conv: Conversation, received_at: datetime) -> None:
    """A buyer message received at `received_at` waits for an answer again."""
    conv.needs_reply = True
    conv.respond_by, conv.sla_at_risk_at = deadlines_for(
        conv.channel_id, received_at, first=conv.first_response_at is None
    )
    conv.sla_state = SLAState.OK


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
    if message_id:
        # Threading looks Message-IDs up there (see `inbox.ingest._Threader`).
        ThreadRef.objects.create(message=message, channel_id=message.channel_id, ref=message_id)
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
            if not conv.needs_reply:
                # The clock runs again from the buyer's last message, as the marketplace sees it.
                _set_deadline(conv, conv.last_inbound_at or timezone.now())
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
def retry_delivery(message: Message, *, actor: User | None, via: str = "") -> None:
    """Queue a failed message again, as it is (an agent pressed "retry").

    The same message is sent, so the connector's "was it stored after all?" look-up (for the
    marketplaces that have one) still guards against a second copy."""
    _check_actor(actor)
    conv = _locked(message.conversation)
    updated = _failed_reply(message, conv).update(
        delivery_state=DeliveryState.QUEUED, delivery_error=""
    )
    if not updated:
        raise ValidationError("only a failed message can be sent again")
    message.delivery_state, message.delivery_error = DeliveryState.QUEUED, ""
    _answer_again(conv, message)
    _event(conv, EventKind.DELIVERY_RETRIED, actor, via, message_id=message.pk)
    from comptoir.inbox.tasks import send_message

    transaction.on_commit(lambda: send_message.enqueue(message.pk))


@transaction.atomic
def resend_edited(message: Message, *, actor: User | None, text: str, via: str = "") -> Message:
    """Send a failed message again with new text (an agent pressed "edit and resend").

    The edited text leaves as a new reply (its own idempotency key: a marketplace that kept
    the failed attempt's key must not answer with the old text) and the failed message becomes
    `replaced`, which nothing sends, so the buyer gets one answer. Its files go with the new
    one. The pre-send checks run on the new text; a refusal changes nothing."""
    _check_actor(actor)
    conv = _locked(message.conversation)
    replaced = _failed_reply(message, conv).update(delivery_state=DeliveryState.REPLACED)
    if not replaced:
        raise ValidationError("only a failed message can be edited and sent again")
    files_of_old = list(message.attachments.all())
    new = reply(conv, actor=actor, text=text, via=via)
    if files_of_old:
        Attachment.objects.bulk_create(
            Attachment(
                message=new,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                sha256=a.sha256,
                content_id=a.content_id,
                inline=a.inline,
                dropped_reason=a.dropped_reason,
            )
            for a in files_of_old
        )
    message.delivery_state = DeliveryState.REPLACED
    _event(conv, EventKind.DELIVERY_RETRIED, actor, via, message_id=message.pk, replaced_by=new.pk)
    return new


def _failed_reply(message: Message, conv: Conversation) -> QuerySet[Message]:
    return Message.objects.filter(
        pk=message.pk,
        conversation=conv,
        direction=Direction.OUT,
        delivery_state=DeliveryState.FAILED,
    )


def _answer_again(conv: Conversation, message: Message) -> None:
    """A failed answer is on its way again: the buyer's messages it answers no longer wait, as
    when it was first queued (a new failure sets the deadline again)."""
    if message.is_auto and not policy_for(conv.channel_id).auto_reply_counts:
        return
    # Received after the failed answer was written (whatever date the buyer's side gave it).
    if Message.objects.filter(
        conversation=conv, direction=Direction.IN, received_at__gt=message.created_at
    ).exists():
        return  # the buyer wrote again since: that one still waits for its answer
    _clear_deadline(conv)
    conv.save(update_fields=["needs_reply", "respond_by", "sla_state", "sla_at_risk_at"])


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
def assign_team(
    conv: Conversation, *, team_id: int | None, actor: User | None, via: str = ""
) -> None:
    _check_actor(actor)
    locked = _locked(conv)
    if locked.team_id == team_id:
        return
    previous = locked.team_id
    locked.team_id = team_id
    locked.save(update_fields=["team", "updated_at"])
    _event(locked, EventKind.ASSIGNED, actor, via, team=team_id, previous_team=previous)
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
        _clear_deadline(conv)
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


@transaction.atomic
def reply_and_snooze(
    conv: Conversation,
    *,
    actor: User | None,
    text: str,
    until: datetime,
    attachments: Iterable[NewAttachment] = (),
    template_id: int | None = None,
    via: str = "",
) -> Message:
    """Answer, then put the conversation away until `until` (e.g. while the buyer checks
    something): both or neither."""
    if until <= timezone.now():
        raise ValidationError("snooze until a time in the future")
    message = reply(
        conv, actor=actor, text=text, attachments=attachments, template_id=template_id, via=via
    )
    snooze_conversation(conv, until=until, actor=actor, via=via)
    return message


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
    "no_response_needed": mark_no_response_needed,
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


# A channel whose polls fail this many times in a row, for at least this long, shows as failing
# and its owners and admins are told once (a marketplace down for a minute is no news).
FAILURES_BEFORE_ALERT = 5
FAILING_FOR_BEFORE_ALERT = timedelta(minutes=10)


def record_channel_error(
    channel: Channel, *, error: str, permanent: bool, retry_after: float | None = None
) -> bool:
    """Keep the channel's last error; a permanent one marks it unhealthy (polls stop until an
    admin acts). Transient ones are counted: after `FAILURES_BEFORE_ALERT` in a row over at
    least `FAILING_FOR_BEFORE_ALERT` the channel shows as failing (polls go on). `retry_after`
    (seconds the marketplace asked us to wait) holds the channel's next scheduled poll.

    Returns True when the channel has just turned unhealthy or failing: then, and only then,
    the owners and admins are told (not at every poll that fails the same way).
    """
    now = timezone.now()
    fields: dict[str, Any] = {"last_error": error[:5000], "last_error_at": now}
    if retry_after is not None and retry_after > 0:
        fields["poll_after"] = now + timedelta(seconds=retry_after)
    if not permanent:
        return _record_transient_failure(channel, fields, now)
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


def _record_transient_failure(channel: Channel, fields: dict[str, Any], now: datetime) -> bool:
    with transaction.atomic():
        Channel.objects.filter(pk=channel.pk).update(
            failure_count=F("failure_count") + 1,
            failing_since=Coalesce(F("failing_since"), Value(now)),
            **fields,
        )
        # One conditional UPDATE: two workers failing at once escalate once.
        escalated = Channel.objects.filter(
            pk=channel.pk,
            is_healthy=True,
            degraded_at=None,
            failure_count__gte=FAILURES_BEFORE_ALERT,
            failing_since__lte=now - FAILING_FOR_BEFORE_ALERT,
        ).update(degraded_at=now)
        state = Channel.objects.values("failure_count", "failing_since", "degraded_at").get(
            pk=channel.pk
        )
        if escalated:
            since = state["failing_since"] or now
            minutes = int((now - since).total_seconds() // 60)
            text = _("Not read for %(minutes)d minutes (%(count)d failed attempts): %(error)s") % {
                "minutes": minutes,
                "count": state["failure_count"],
                "error": fields["last_error"],
            }
            _event(
                None,
                EventKind.CHANNEL_FAILING,
                None,
                "system",
                channel=channel.pk,
                error=fields["last_error"][:500],
                failures=state["failure_count"],
            )
            from comptoir.notifications.actions import Kind, notify

            notify(Kind.CHANNEL_UNHEALTHY, channel_id=channel.pk, text=text[:2000])
    channel.last_error, channel.last_error_at = fields["last_error"], now
    channel.failure_count = state["failure_count"]
    channel.failing_since, channel.degraded_at = state["failing_since"], state["degraded_at"]
    if "poll_after" in fields:
        channel.poll_after = fields["poll_after"]
    return bool(escalated)


def save_channel_cursor(channel: Channel, cursor: dict[str, Any]) -> None:
    """Keep a connector's cursor before its poll ends: for a source that forgets what it
    served once read (Rakuten's to-do list), the next poll must know it too."""
    Channel.objects.filter(pk=channel.pk).update(cursor=cursor)
    channel.cursor = cursor


def record_channel_success(channel: Channel, *, cursor: dict[str, Any] | None = None) -> None:
    """A good poll: the channel works, and the errors of its bad days leave its page."""
    fields: dict[str, Any] = {
        "last_sync_at": timezone.now(),
        "is_healthy": True,
        "last_error": "",
        "last_error_at": None,
        "failure_count": 0,
        "failing_since": None,
        "degraded_at": None,
        "poll_after": None,
    }
    if cursor is not None:
        fields["cursor"] = cursor
    was_down = Q(is_healthy=False) | Q(degraded_at__isnull=False)
    if Channel.objects.filter(was_down, pk=channel.pk).update(**fields):
        _event(None, EventKind.CHANNEL_RECOVERED, None, "system", channel=channel.pk)
    else:
        Channel.objects.filter(pk=channel.pk).update(**fields)
    for name, value in fields.items():
        setattr(channel, name, value)


# -- an agent's own state: saved views, presence, drafts -----------------------------------------


def save_view(user: User, *, name: str, query: str) -> SavedView:
    """Save (or overwrite, by name) the inbox filters `query` as one of the user's views."""
    name = name.strip()[:80]
    if not name:
        raise ValidationError("a saved view needs a name")
    # Only the inbox's own parameters are kept: no cursor, nothing else smuggled into the nav.
    kept = {
        k: str(v) for k, v in QueryDict(query).items() if k in SAVED_VIEW_PARAMS and str(v).strip()
    }
    position = SavedView.objects.filter(user=user).count()
    view, _ = SavedView.objects.update_or_create(
        user=user,
        name=name,
        defaults={"query": urlencode(kept)[:1000]},
        create_defaults={"query": urlencode(kept)[:1000], "position": position},
    )
    return view


def delete_view(user: User, *, view_id: int) -> None:
    SavedView.objects.filter(user=user, pk=view_id).delete()


PRESENCE_TTL_SECONDS = 45  # the page beats every 20 s: a closed tab is gone within a minute


def mark_presence(conv: Conversation, *, user: User, state: str) -> None:
    """`user` has `conv` open (viewing) or is writing in it (replying), as of now."""
    if state not in PresenceState.values:
        raise ValidationError(f"unknown presence state {state!r}")
    now = timezone.now()
    updated = Presence.objects.filter(conversation=conv, user=user).update(state=state, seen_at=now)
    if not updated:
        try:
            with transaction.atomic():
                Presence.objects.create(conversation=conv, user=user, state=state, seen_at=now)
        except IntegrityError:  # the same user's other tab got there first
            Presence.objects.filter(conversation=conv, user=user).update(state=state, seen_at=now)


def leave_conversation(conv: Conversation, *, user: User) -> None:
    Presence.objects.filter(conversation=conv, user=user).delete()


def save_draft(conv: Conversation, *, user: User, text: str, mode: str = "reply") -> None:
    """Keep the user's unsent answer; an empty one is forgotten."""
    if not text.strip():
        ComposerDraft.objects.filter(conversation=conv, user=user).delete()
        return
    ComposerDraft.objects.update_or_create(
        conversation=conv,
        user=user,
        defaults={
            "text": text[:100_000],
            "mode": "note" if mode == "note" else "reply",
            "updated_at": timezone.now(),
        },
    )


# -- shops and channels (the settings pages) ----------------------------------------------------


def _require_channel_admin(actor: User) -> None:
    from comptoir.accounts.permissions import can_manage_channels

    if not can_manage_channels(actor):
        raise PermissionDenied("shops and channels are managed by owners and admins")


@transaction.atomic
def save_shop(
    shop: Shop | None,
    *,
    actor: User,
    name: str,
    language: str,
    country: str,
    timezone_name: str,
) -> Shop:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from django.utils.text import slugify

    _require_channel_admin(actor)
    name = name.strip()[:200]
    if not name:
        raise ValidationError("a shop needs a name")
    if not re.fullmatch(r"[a-z]{2}", language.strip()):
        raise ValidationError("the shop's language is a two-letter code such as fr")
    if not re.fullmatch(r"[A-Z]{2}", country.strip().upper()):
        raise ValidationError("the shop's country is a two-letter code such as FR")
    try:
        ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown timezone {timezone_name!r}") from None
    if shop is None:
        base = slugify(name)[:40] or "shop"
        slug, n = base, 1
        while Shop.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        shop = Shop(slug=slug)
    shop.name, shop.language = name, language.strip()
    shop.country, shop.timezone = country.strip().upper(), timezone_name
    shop.save()
    return shop


@transaction.atomic
def configure_channel(
    channel: Channel | None,
    *,
    actor: User,
    shop: Shop,
    kind: str,
    marketplace: str,
    name: str,
    team_id: int | None,
    is_active: bool,
    settings: dict[str, Any],
) -> Channel:
    """Create or change a channel. `settings` were validated by the connector's own model
    (connectors.forms); they are stored encrypted. New settings give the channel another go:
    it is polled again, and a still-wrong setting stops it again with one alert."""
    from comptoir.connectors.registry import CONNECTORS

    _require_channel_admin(actor)
    if kind not in CONNECTORS or kind not in ChannelKind.values:
        raise ValidationError(f"no connector for channels of kind {kind!r}")
    if marketplace not in Marketplace.values:
        raise ValidationError(f"unknown marketplace {marketplace!r}")
    name = name.strip()[:200]
    if not name:
        raise ValidationError("a channel needs a name")
    if channel is None:
        channel = Channel(kind=kind)
    elif channel.kind != kind:
        raise ValidationError("a channel's kind cannot change: add a new channel instead")
    settings_changed = channel.get_settings() != settings
    channel.shop, channel.marketplace, channel.name = shop, marketplace, name
    channel.team_id, channel.is_active = team_id, is_active
    channel.set_settings(settings)
    if settings_changed:
        channel.is_healthy, channel.last_error = True, ""
    channel.save()
    return channel
