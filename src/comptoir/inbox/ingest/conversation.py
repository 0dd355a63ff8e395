"""A conversation's fields for one new message, in memory, and the UPDATE that writes them."""

from __future__ import annotations

from typing import cast

from django.db import connection
from django.db.models import Field
from django.utils import timezone

from comptoir.inbox import deadlines
from comptoir.inbox.ingest.base import _Pending
from comptoir.inbox.models import (
    Conversation,
    Event,
    EventKind,
    Status,
)
from comptoir.lib.text import snippet

_CONVERSATION_FIELDS = [
    "customer",
    "created_at",
    "order",
    "order_number",
    "subject",
    "snippet",
    "status",
    "language",
    "needs_reply",
    "respond_by",
    "sla_state",
    "sla_at_risk_at",
    "snoozed_until",
    "first_inbound_at",
    "first_response_at",
    "last_inbound_at",
    "last_outbound_at",
    "last_message_at",
    "resolved_at",
    "reopened_count",
    "message_count",
    "updated_at",
]


def _update_conversations(convs: list[Conversation]) -> None:
    """One parametrised UPDATE run for many rows: bulk_update's CASE expressions cost far more
    Python time than the database spends on the rows."""
    fields = [cast(Field, Conversation._meta.get_field(name)) for name in _CONVERSATION_FIELDS]
    quote = connection.ops.quote_name
    columns = ", ".join(f"{quote(f.column or f.name)} = %s" for f in fields)
    sql = f"UPDATE {quote(Conversation._meta.db_table)} SET {columns} WHERE id = %s"
    now = timezone.now()
    params = []
    for conv in convs:
        conv.updated_at = now
        row = [f.get_db_prep_save(getattr(conv, f.attname), connection) for f in fields]
        params.append([*row, conv.pk])
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _apply_to_conversation(conv: Conversation, p: _Pending) -> None:
    """Update the conversation's derived fields for one new message, in memory."""
    if p.new_conversation:
        p.events.append(_connector_event(p, EventKind.CREATED))
    _apply_message(conv, p)
    if p.msg.direction == "out":
        _apply_outbound(conv, p)
    else:
        _apply_inbound(conv, p)


# Ingest sources that load the past (another help desk's history): their events are
# labelled as such, and the rules do not act on them (no auto-reply to a year-old message).
HISTORY_SOURCES = frozenset({"history"})


def _connector_event(p: _Pending, kind: str, **data: str) -> Event:
    origin = "history" if p.record.source in HISTORY_SOURCES else "connector"
    return Event(
        kind=kind, actor_label=f"{origin}:{p.channel.kind}", created_at=p.msg.sent_at, data=data
    )


def _apply_message(conv: Conversation, p: _Pending) -> None:
    """What any message changes: the count, the dates, and what the conversation lacked."""
    msg, at = p.msg, p.msg.sent_at
    conv.message_count += 1
    # A conversation starts at its oldest message, even one that arrives late.
    conv.created_at = min(conv.created_at, at)
    if conv.last_message_at is None or at >= conv.last_message_at:
        conv.last_message_at = at
        conv.snippet = snippet(msg.new_text or msg.text or msg.subject)
    if not conv.subject and msg.subject:
        conv.subject = msg.subject
    if not conv.order_number and msg.order_number:
        conv.order_number = msg.order_number
    if not conv.language and msg.language:
        conv.language = msg.language


def _apply_outbound(conv: Conversation, p: _Pending) -> None:
    """The seller's own answer, written on the marketplace and synced back."""
    at = p.msg.sent_at
    conv.last_outbound_at = max(filter(None, [conv.last_outbound_at, at]))
    if conv.first_response_at is None and conv.first_inbound_at and at >= conv.first_inbound_at:
        conv.first_response_at = at
    if conv.last_inbound_at is None or at >= conv.last_inbound_at:
        deadlines.clear_deadline(conv)
    p.events.append(_connector_event(p, EventKind.REPLIED))


def _apply_inbound(conv: Conversation, p: _Pending) -> None:
    """A buyer's message: the deadline it sets or clears, and the conversation reopened."""
    msg, at = p.msg, p.msg.sent_at
    conv.first_inbound_at = min(filter(None, [conv.first_inbound_at, at]))
    is_newest = conv.last_inbound_at is None or at >= conv.last_inbound_at
    conv.last_inbound_at = max(filter(None, [conv.last_inbound_at, at]))
    answered_later = conv.last_outbound_at is not None and conv.last_outbound_at > at
    needs = msg.needs_reply if msg.needs_reply is not None else not msg.is_auto
    if needs and not answered_later:
        respond_by, at_risk = p.policy.deadlines(at, first=conv.first_response_at is None)
        deadlines.keep_earliest_deadline(conv, respond_by, at_risk)
    elif msg.needs_reply is False and is_newest:
        deadlines.clear_deadline(conv)
    # Newly arrived is what counts, not the sent time: a message that was on its way while an
    # agent resolved the conversation has not been read by anyone.
    reopens = conv.status != Status.OPEN and not msg.is_auto and is_newest
    if reopens and deadlines.change_status(conv, Status.OPEN, at) == Status.RESOLVED:
        p.events.append(
            Event(kind=EventKind.REOPENED, actor_label="system", created_at=at, data={})
        )
    p.events.append(_connector_event(p, EventKind.MESSAGE_RECEIVED, external_id=msg.external_id))
