"""Triage after ingest: each new inbound message read in a task, the conversation told; and
training in the background (an admin's "Train now", the weekly retraining)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, F, Q
from django.tasks import task
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.inbox import fastsql, ingest
from comptoir.inbox.actions import (
    Reading,
    apply_readings,
    link_order,
    mark_no_response_needed,
)
from comptoir.inbox.models import Conversation, Direction, Message, TriageSource
from comptoir.jobs.periodic import periodic
from comptoir.orders.models import Order
from comptoir.triage import actions, hooks, language, reading, registry, training
from comptoir.triage.intent import Model
from comptoir.triage.models import TriageSettings
from comptoir.triage.training import Mood

logger = logging.getLogger("comptoir.triage")

# Messages per task: a poll of a busy channel is read in a few tasks, not one long one.
BATCH = 200
VIA = "triage"
TRAIN_EVERY = timedelta(days=7)
# What a reading writes on a message (beside `triaged_at`, when): the fields that must come
# out the same however the message was read (tests/test_import_history_alongside.py).
READING_FIELDS = (
    "language",
    "intent",
    "intent_confidence",
    "intent_source",
    "urgency",
    "sentiment",
    "entities",
)


def queue_reading(stored: list[ingest.Stored]) -> None:
    """Subscribed to `inbox.hooks.messages_stored` (after commit): queue the reading."""
    ids = sorted({s.message_id for s in stored})
    for start in range(0, len(ids), BATCH):
        read_messages.enqueue(ids[start : start + BATCH])


@task()
def read_messages(message_ids: list[int]) -> int:
    """Read these messages (inbound ones not read yet) and tell their conversations. Returns
    how many messages were read."""
    messages = list(
        Message.objects.filter(pk__in=message_ids, direction=Direction.IN, triaged_at=None)
        .select_related("channel")
        .order_by("received_at", "pk")
    )
    if not messages:
        return 0
    read_now(messages)
    return len(messages)


@dataclass(frozen=True, slots=True)
class Text:
    """What reading a message needs of it and of its conversation: plain values, so that a
    reader in another process can read it (`comptoir.history`'s import reads beside storing)."""

    text: str
    subject: str
    hint: str
    marketplace_intent: str
    unanswered: int
    is_new_text: bool


def read_now(
    messages: Sequence[Message], readings: Sequence[reading.Reading] | None = None
) -> None:
    """Read `messages` (inbound, oldest first) and tell their conversations; `readings`:
    theirs, read already (`read_texts` of `texts_of` them, elsewhere)."""
    now = timezone.now()
    if readings is None:
        _version, model = registry.model()
        readings = read_texts(texts_of(messages), model, training.mood_models())
    for message, found in zip(messages, readings, strict=True):
        message.language = message.language or found.language
        message.intent, message.intent_confidence = found.intent, found.confidence
        message.intent_source = found.intent_source
        message.urgency, message.sentiment = found.urgency, found.sentiment
        message.entities, message.triaged_at = found.entities, now
    fastsql.update(messages, [*READING_FIELDS, "triaged_at"])
    _tell_conversations(messages)
    hooks.messages_read.emit([m.pk for m in messages])


def texts_of(messages: Sequence[Message]) -> list[Text]:
    """What `read_texts` reads of each message (one query: the buyer messages since our last
    answer, per conversation)."""
    waiting = _unanswered({m.conversation_id for m in messages})
    return [
        Text(
            text=message.new_text or message.text,
            subject=message.subject,
            hint=message.channel.kind,
            marketplace_intent=(
                message.intent if message.intent_source == TriageSource.MARKETPLACE else ""
            ),
            unanswered=waiting.get(message.conversation_id, 1),
            is_new_text=bool(message.new_text),
        )
        for message in messages
    ]


def read_texts(texts: Sequence[Text], model: Model, mood: Mood) -> list[reading.Reading]:
    """The readings of `texts`: no database, so any process holding the models can do it."""
    return [
        reading.read(
            t.text,
            model,
            mood=mood,
            subject=t.subject,
            hint=t.hint,
            marketplace_intent=t.marketplace_intent,
            unanswered=t.unanswered,
            is_new_text=t.is_new_text,
        )
        for t in texts
    ]


def _unanswered(conversation_ids: set[int]) -> dict[int, int]:
    """Buyer messages since our last answer, per conversation (the third one is urgent)."""
    rows = (
        Message.objects.filter(conversation_id__in=conversation_ids, direction=Direction.IN)
        .filter(
            Q(conversation__last_outbound_at__isnull=True)
            | Q(received_at__gt=F("conversation__last_outbound_at"))
        )
        .values("conversation_id")
        .annotate(n=Count("pk"))
    )
    return {row["conversation_id"]: row["n"] for row in rows}


def _tell_conversations(messages: Sequence[Message]) -> None:
    """Each conversation takes the readings of its messages, oldest first (the last one wins
    where it says something new), all in one action (`apply_readings`: one lock query, one
    update, the events together); then the rare steps, conversation by conversation."""
    latest: dict[int, Message] = {}
    # The language of each conversation's latest message read in one (grouped once: looked
    # up per conversation in the whole batch, this grew with the square of the batch).
    spoken: dict[int, str] = {}
    for message in messages:
        latest[message.conversation_id] = message
        if message.language and message.language != language.UNKNOWN:
            spoken[message.conversation_id] = message.language
    thanks_off = not TriageSettings.get().no_reply_for_thanks
    # Every message's reading, oldest first: a batch holding a conversation's question and
    # the buyer's "thanks" after it keeps the question's intent, as one at a time would.
    readings = [
        Reading(
            conversation_id=message.conversation_id,
            language=spoken.get(message.conversation_id, "")
            if message is latest[message.conversation_id]
            else "",
            intent=message.intent,
            urgency=message.urgency,
            sentiment=message.sentiment,
            source=message.intent_source,
        )
        for message in messages
    ]
    told = apply_readings(readings, via=VIA)
    for conv_id in sorted(set(latest) - set(told)):  # deleted, merged, or a refused reading
        logger.info("triage: conversation %s is gone", conv_id)
    for conv in told.values():
        try:
            _after_reading(conv, latest[conv.pk], thanks_off=thanks_off)
        except ValidationError:  # deleted or merged meanwhile: nothing to tell
            logger.info("triage: conversation %s is gone", conv.pk)


def _after_reading(conv: Conversation, message: Message, *, thanks_off: bool) -> None:
    if conv.order_id is None:
        _link_known_order(conv, message)
    if (
        not thanks_off
        and message.intent == "thanks_or_closing"
        and not reading.asks_something(message.new_text or message.text)
        and conv.last_inbound_at is not None
        and message.received_at >= conv.last_inbound_at
    ):
        mark_no_response_needed(conv, actor=None, via=VIA)


def _link_known_order(conv: Conversation, message: Message) -> None:
    numbers = [e["value"] for e in message.entities if e.get("kind") == "order"]
    if not numbers:
        return
    order = Order.objects.filter(shop_id=conv.shop_id, external_id__in=numbers).first()
    if order is not None:
        link_order(conv, order=order, actor=None, via=VIA)


@task()
def train_model(actor_id: int | None = None) -> int:
    """An admin's "Train now": train on the shipped data and the seller's, activate it.
    Returns the new version."""
    actor = User.objects.filter(pk=actor_id).first() if actor_id is not None else None
    return actions.train_model(actor=actor).version


@periodic("triage.train", every=TRAIN_EVERY)
@task()
def train_weekly() -> str:
    """Weekly: retrain only when agents corrected intents since the last stored model, and
    activate the new model only if its held-out macro F1 is not lower than the active
    model's by more than 0.01 (`actions.retrain_if_corrected`)."""
    stored = actions.retrain_if_corrected()
    if stored is None:
        return "no new corrections"
    state = "activated" if stored.is_active else "kept inactive"
    return f"v{stored.version} {state}, macro F1 {stored.metrics.get('macro_f1')}"
