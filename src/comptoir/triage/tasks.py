"""Triage after ingest: each new inbound message read in a task, the conversation told."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.tasks import task

from comptoir.inbox import ingest
from comptoir.inbox.actions import set_language
from comptoir.inbox.models import Conversation, Direction, Message
from comptoir.triage import language

logger = logging.getLogger("comptoir.triage")

# Messages per task: a poll of a busy channel is read in a few tasks, not one long one.
BATCH = 200


def queue_reading(stored: list[ingest.Stored]) -> None:
    """Subscribed to `inbox.hooks.messages_stored` (after commit): queue the reading."""
    ids = sorted({s.message_id for s in stored})
    for start in range(0, len(ids), BATCH):
        read_messages.enqueue(ids[start : start + BATCH])


@task()
def read_messages(message_ids: list[int]) -> int:
    """Read the language of these messages (inbound ones not read yet) and tell their
    conversations. Returns how many messages were read."""
    messages = list(
        Message.objects.filter(pk__in=message_ids, direction=Direction.IN, language="")
        .only("pk", "conversation_id", "subject", "text", "new_text", "received_at")
        .order_by("received_at", "pk")
    )
    for message in messages:
        message.language, _confidence = language.detect(
            message.new_text or message.text or message.subject
        )
    Message.objects.bulk_update(messages, ["language"])
    _tell_conversations(messages)
    return len(messages)


def _tell_conversations(messages: Sequence[Message]) -> None:
    """Each conversation takes the language of its latest message read with one."""
    latest: dict[int, str] = {}
    for message in messages:  # oldest first: the last one wins
        if message.language != language.UNKNOWN:
            latest[message.conversation_id] = message.language
    for conv in Conversation.objects.filter(pk__in=latest, deleted_at=None, merged_into=None):
        try:
            set_language(conv, language=latest[conv.pk], actor=None, via="triage", by_triage=True)
        except ValidationError:  # deleted or merged meanwhile: nothing to tell
            logger.info("triage: conversation %s is gone", conv.pk)
