"""What became of a reply: delivered, failed, bounced, retried or resent."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from comptoir.inbox.actions.common import (
    _apply_status,
    _check_actor,
    _clear_deadline,
    _event,
    _locked,
    _set_deadline,
)
from comptoir.inbox.actions.sending import reply
from comptoir.inbox.models import (
    Attachment,
    Conversation,
    DeliveryState,
    Direction,
    EventKind,
    Message,
    Status,
    ThreadRef,
)
from comptoir.sla.policies import policy_for

if TYPE_CHECKING:
    from comptoir.accounts.models import User


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
        # Threading looks Message-IDs up there (see `inbox.ingest.threader._Threader`).
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
