"""Replies and notes, and the checks other apps register to run before a reply leaves."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from comptoir.inbox import hooks
from comptoir.inbox.actions.common import (
    NewAttachment,
    _apply_status,
    _attach,
    _check_actor,
    _clear_deadline,
    _event,
    _locked,
    _reply_subject,
    _sync,
)
from comptoir.inbox.models import (
    ComposerDraft,
    Conversation,
    DeliveryState,
    Direction,
    EventKind,
    Message,
    Presence,
    PresenceState,
    Status,
)
from comptoir.lib.html import sanitize
from comptoir.lib.text import snippet
from comptoir.sla.policies import policy_for

if TYPE_CHECKING:
    from comptoir.accounts.models import User


# -- pre-send checks ------------------------------------------------------------------------------
# Other apps (automation) register what to check before a reply leaves: a port that answers with
# results, not an event (what happens once a reply is queued is `hooks.reply_queued`). The inbox
# knows none of them, so that it never imports upward.


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
_presend_checkers: list[PreSendChecker] = []


def register_presend_checker(checker: PreSendChecker) -> None:
    if checker not in _presend_checkers:
        _presend_checkers.append(checker)


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
    from (its use is counted by a subscriber of `hooks.reply_queued`).
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
    hooks.reply_queued.emit(message, template_id)
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
    hooks.note_added.emit(message, actor)
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
    hooks.no_response_needed.emit(locked.pk, locked.channel_id)
