"""What a conversation is about (intent), how pressing it is (urgency) and the buyer's mood
(sentiment): triage's reading, a marketplace's reason, or an agent's correction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from comptoir.inbox.actions.common import _check_actor, _event, _locked, _sync
from comptoir.inbox.models import Conversation, EventKind, TriageSource
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
