"""A conversation's fields for one new message, in memory, and the UPDATE that writes them."""

from __future__ import annotations

from typing import cast

from django.db import connection
from django.db.models import Field
from django.utils import timezone

from comptoir.inbox.ingest.base import _Pending
from comptoir.inbox.models import (
    Conversation,
    Event,
    EventKind,
    SLAState,
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
    msg, at = p.msg, p.msg.sent_at
    if p.new_conversation:
        p.events.append(
            Event(kind=EventKind.CREATED, actor_label=f"connector:{p.channel.kind}", created_at=at)
        )
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
    if msg.direction == "out":
        # The seller's own answer, written on the marketplace and synced back.
        conv.last_outbound_at = max(filter(None, [conv.last_outbound_at, at]))
        if conv.first_response_at is None and conv.first_inbound_at and at >= conv.first_inbound_at:
            conv.first_response_at = at
        if conv.last_inbound_at is None or at >= conv.last_inbound_at:
            _clear_deadline(conv)
        p.events.append(
            Event(kind=EventKind.REPLIED, actor_label=f"connector:{p.channel.kind}", created_at=at)
        )
        return

    conv.first_inbound_at = min(filter(None, [conv.first_inbound_at, at]))
    is_newest = conv.last_inbound_at is None or at >= conv.last_inbound_at
    conv.last_inbound_at = max(filter(None, [conv.last_inbound_at, at]))
    answered_later = conv.last_outbound_at is not None and conv.last_outbound_at > at
    needs = msg.needs_reply if msg.needs_reply is not None else not msg.is_auto
    if needs and not answered_later:
        # The oldest unanswered message sets the deadline (it is the one the marketplace
        # counts late first): a follow-up never pushes it back, an older one brought in late
        # may bring it forward.
        respond_by, at_risk = p.policy.deadlines(at, first=conv.first_response_at is None)
        if not conv.needs_reply or conv.respond_by is None:
            conv.needs_reply, conv.sla_state = True, SLAState.OK
            conv.respond_by, conv.sla_at_risk_at = respond_by, at_risk
        elif respond_by < conv.respond_by:
            conv.respond_by, conv.sla_at_risk_at = respond_by, at_risk
    elif msg.needs_reply is False and is_newest:
        _clear_deadline(conv)
    # Newly arrived is what counts, not the sent time: a message that was on its way while an
    # agent resolved the conversation has not been read by anyone.
    if conv.status != Status.OPEN and not msg.is_auto and is_newest:
        if conv.status == Status.RESOLVED:
            conv.reopened_count += 1
            conv.resolved_at = None
            p.events.append(
                Event(kind=EventKind.REOPENED, actor_label="system", created_at=at, data={})
            )
        conv.status = Status.OPEN
        conv.snoozed_until = None
    p.events.append(
        Event(
            kind=EventKind.MESSAGE_RECEIVED,
            actor_label=f"connector:{p.channel.kind}",
            created_at=at,
            data={"external_id": msg.external_id},
        )
    )


def _clear_deadline(conv: Conversation) -> None:
    conv.needs_reply, conv.respond_by = False, None
    conv.sla_state, conv.sla_at_risk_at = SLAState.NONE, None
