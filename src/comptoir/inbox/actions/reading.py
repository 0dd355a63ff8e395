"""What a conversation is about (intent), how pressing it is (urgency) and the buyer's mood
(sentiment): triage's reading, a marketplace's reason, or an agent's correction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from comptoir.inbox import fastsql
from comptoir.inbox.actions.common import _check_actor, _event, _locked, _sync, write_events
from comptoir.inbox.models import Conversation, Event, EventKind, TriageSource
from comptoir.lib import intents

if TYPE_CHECKING:
    from comptoir.accounts.models import User

# Intents that say nothing about why the buyer wrote: they do not replace one that does.
VAGUE = frozenset({"thanks_or_closing", "other", intents.UNSURE})
# Who may replace whose intent: triage never overrules a marketplace or an agent.
_RANK = {
    TriageSource.NONE: 0,
    TriageSource.TRIAGE: 1,
    TriageSource.MARKETPLACE: 2,
    TriageSource.AGENT: 3,
}


def _check(intent: str, urgency: str, sentiment: str) -> None:
    if intent and intent not in intents.LABELS and intent != intents.UNSURE:
        raise ValidationError(f"unknown intent {intent!r}")
    if urgency and urgency not in intents.URGENCIES:
        raise ValidationError(f"urgency is low, normal or high, not {urgency!r}")
    if sentiment and sentiment not in intents.SENTIMENTS:
        raise ValidationError(f"sentiment is negative, neutral or positive, not {sentiment!r}")


def _takes_intent(conv: Conversation, intent: str, source: str) -> bool:
    """Whether this intent replaces the conversation's."""
    if not intent or intent == conv.intent:
        return False
    if source == TriageSource.AGENT:
        return True
    if _RANK[TriageSource(conv.intent_source)] > _RANK[TriageSource(source)]:
        return False
    return not (intent in VAGUE and conv.intent and conv.intent not in VAGUE)


def would_change(
    conv: Conversation,
    *,
    intent: str = "",
    urgency: str = "",
    sentiment: str = "",
    source: str = TriageSource.TRIAGE,
) -> bool:
    """Whether `set_reading` would change this (unlocked) conversation: a caller reading many
    messages skips the lock and the transaction when nothing would (the action checks again
    under its lock)."""
    return (
        _takes_intent(conv, intent, source)
        or bool(urgency and urgency != conv.urgency)
        or bool(sentiment and sentiment != conv.sentiment)
    )


@transaction.atomic
def set_reading(
    conv: Conversation,
    *,
    intent: str = "",
    urgency: str = "",
    sentiment: str = "",
    source: str = TriageSource.TRIAGE,
    actor: User | None = None,
    via: str = "",
) -> bool:
    """Give the conversation what its latest message says. An intent that says nothing new
    ("thanks", "unsure") keeps the one that did; a marketplace's or an agent's intent is kept
    against triage's. Urgency and sentiment follow the latest reading. True if anything changed."""
    _check_actor(actor)
    _check(intent, urgency, sentiment)
    locked = _locked(conv)
    fields: list[str] = []
    if _takes_intent(locked, intent, source):
        previous = locked.intent
        locked.intent, locked.intent_source = ("" if intent == intents.UNSURE else intent), source
        fields += ["intent", "intent_source"]
        _event(locked, EventKind.INTENT_SET, actor, via, previous=previous, intent=locked.intent)
    if urgency and urgency != locked.urgency:
        previous = locked.urgency
        locked.urgency = urgency
        fields.append("urgency")
        _event(locked, EventKind.URGENCY_SET, actor, via, previous=previous, urgency=urgency)
    if sentiment and sentiment != locked.sentiment:
        locked.sentiment = sentiment
        fields.append("sentiment")
    if not fields:
        return False
    locked.save(update_fields=[*fields, "updated_at"])
    _sync(conv, locked)
    return True


@dataclass(frozen=True)
class Reading:
    """Triage's reading of one of a conversation's messages, for `apply_readings`."""

    conversation_id: int
    language: str = ""  # the language its latest messages were read in; "" for none
    intent: str = ""
    urgency: str = ""
    sentiment: str = ""
    source: str = TriageSource.TRIAGE


@transaction.atomic
def apply_readings(readings: Sequence[Reading], *, via: str = "") -> dict[int, Conversation]:
    """Triage's readings of many conversations at once (several of one conversation apply in
    their order): each conversation takes what `set_language(by_triage=True)` then
    `set_reading` would give it, with the same events,
    but all are locked by one query, updated by one statement and their events written
    together. A deleted or merged conversation, or a reading either action would refuse, is
    left out. Returns the conversations as they now are, by id."""
    wanted: dict[int, list[Reading]] = {}
    for r in readings:
        wanted.setdefault(r.conversation_id, []).append(r)
    locked = Conversation.objects.select_for_update().filter(
        pk__in=wanted, deleted_at=None, merged_into=None
    )
    now = timezone.now()
    out: dict[int, Conversation] = {}
    changed: list[Conversation] = []
    events: list[Event] = []
    for conv in locked.order_by("pk"):
        # Several readings of one conversation apply in order, as the actions called one
        # after the other would: a question then "thanks" keeps the question's intent.
        conv_events: list[Event] | None = None
        try:
            for reading in wanted[conv.pk]:
                step = _apply_reading(conv, reading, via)
                if step is not None:
                    conv_events = [*(conv_events or []), *step]
        except ValidationError:
            continue
        out[conv.pk] = conv
        if conv_events is not None:
            conv.updated_at = now
            changed.append(conv)
            events += conv_events
    fields = ["language", "language_by_triage", "intent", "intent_source", "urgency"]
    fastsql.update(changed, [*fields, "sentiment", "updated_at"])
    write_events(events)
    return out


def _apply_reading(conv: Conversation, reading: Reading, via: str) -> list[Event] | None:
    """Change the (locked) conversation as the two actions would; its events, None if nothing
    changed. Raises ValidationError where either action would."""
    _check(reading.intent, reading.urgency, reading.sentiment)
    events: list[Event] = []
    changed = False

    def event(kind: str, **data: Any) -> None:
        label = via or "system"
        events.append(Event(conversation=conv, kind=kind, actor_label=label, data=data))

    code = reading.language.strip().lower()
    if code:
        if not re.fullmatch(r"[a-z]{2}", code):
            raise ValidationError(f"a language is a two-letter code such as fr, not {code!r}")
        mine = not conv.language or conv.language_by_triage
        if mine and (conv.language, conv.language_by_triage) != (code, True):
            previous, changed = conv.language, True
            conv.language, conv.language_by_triage = code, True
            if previous != code:
                event(EventKind.LANGUAGE_SET, previous=previous, language=code)
    intent, source = reading.intent, reading.source
    if _takes_intent(conv, intent, source):
        previous, changed = conv.intent, True
        conv.intent, conv.intent_source = ("" if intent == intents.UNSURE else intent), source
        event(EventKind.INTENT_SET, previous=previous, intent=conv.intent)
    if reading.urgency and reading.urgency != conv.urgency:
        previous, changed = conv.urgency, True
        conv.urgency = reading.urgency
        event(EventKind.URGENCY_SET, previous=previous, urgency=reading.urgency)
    if reading.sentiment and reading.sentiment != conv.sentiment:
        conv.sentiment, changed = reading.sentiment, True
    return events if changed else None
