"""A conversation's tags, status, snooze, priority, language and archive."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from comptoir.inbox import fastsql
from comptoir.inbox.actions.common import (
    NewAttachment,
    _apply_status,
    _check_actor,
    _event,
    _locked,
    _sync,
)
from comptoir.inbox.actions.sending import reply
from comptoir.inbox.models import (
    Conversation,
    EventKind,
    Message,
    Priority,
    Status,
    Tag,
)

if TYPE_CHECKING:
    from comptoir.accounts.models import User


@transaction.atomic
def tag_conversation(conv: Conversation, *, tag: str, actor: User | None, via: str = "") -> None:
    _check_actor(actor)
    name = tag.strip()[:64]
    if not name:
        raise ValidationError("a tag needs a name")
    locked = _locked(conv, only=("id",))
    # The tag's id in plain SQL (compiling `get_or_create`'s query cost more than running it);
    # a new tag through the ORM.
    found = fastsql.select(f"SELECT id FROM {Tag._meta.db_table} WHERE name = %s", [name])
    tag_id = found[0][0] if found else Tag.objects.get_or_create(name=name)[0].pk
    # One statement where `exists()` then `add()` took two: a row the unique index refuses is
    # a tag the conversation had already. (No one listens to `m2m_changed` on tags.)
    link = Conversation.tags.through(conversation_id=locked.pk, tag_id=tag_id)
    fastsql.insert([link], ignore_conflicts=True)
    if link.pk is None:
        return
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
def set_language(
    conv: Conversation,
    *,
    language: str,
    actor: User | None,
    via: str = "",
    by_triage: bool = False,
) -> bool:
    """The buyer's language. Triage's reading (`by_triage`) only fills an empty language or
    replaces its own earlier one: a connector's or an agent's stays. True if it changed."""
    _check_actor(actor)
    language = language.strip().lower()
    if not re.fullmatch(r"[a-z]{2}", language):
        raise ValidationError(f"a language is a two-letter code such as fr, not {language!r}")
    locked = _locked(conv)
    if by_triage and locked.language and not locked.language_by_triage:
        return False
    if locked.language == language and locked.language_by_triage == by_triage:
        return False
    previous = locked.language
    locked.language, locked.language_by_triage = language, by_triage
    locked.save(update_fields=["language", "language_by_triage", "updated_at"])
    if previous != language:
        _event(locked, EventKind.LANGUAGE_SET, actor, via, previous=previous, language=language)
    _sync(conv, locked)
    return True


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
