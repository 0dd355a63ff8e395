"""The batch store: many messages in one transaction, with a constant number of queries."""

from __future__ import annotations

import html as html_lib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from django.db import connection
from django.db.models import Field, Model
from django.utils import timezone

from comptoir.connectors.base import InboundMessage
from comptoir.inbox import fastsql, files
from comptoir.inbox.ingest.base import IngestError, Outcome, Result, Stored, _Pending
from comptoir.inbox.ingest.conversation import _apply_to_conversation, _update_conversations
from comptoir.inbox.ingest.lookups import (
    _channels,
    _customer_query,
    _existing_keys,
    _order_query,
    _Orders,
    _resolve_customers,
)
from comptoir.inbox.ingest.sql import _set_records_state, _table
from comptoir.inbox.ingest.threader import _thread_ids, _Threader
from comptoir.inbox.models import (
    Attachment,
    Conversation,
    Customer,
    Direction,
    Event,
    EventKind,
    InboundRecord,
    InboundState,
    Message,
    Status,
    Tag,
    ThreadRef,
    TriageSource,
)
from comptoir.lib.html import sanitize
from comptoir.sla.policies import policies_for

logger = logging.getLogger("comptoir.ingest")


def _store_batch(
    items: list[tuple[InboundRecord, InboundMessage]],
    stored_out: list[Stored],
    *,
    check_existing: bool = True,
) -> list[Result]:
    """Store many messages with a constant number of queries; call inside a transaction.

    Adds what it stored to `stored_out`, for the after-ingest hooks the caller runs once the
    transaction is committed. A single item's raw record may still lack its id (inserted
    without RETURNING in the same pipeline): the lookups read it."""
    if not items:
        return []
    now = timezone.now()
    results, fresh = _drop_duplicates(_pending(items), check_existing, now)
    if not fresh:
        return results
    answers = _look_up(fresh, len(items))
    customers = _resolve_customers(fresh, now, answers.customer_rows, answers.customer_ids)
    threader = _Threader(fresh, answers.thread_rows)
    threader.load_by_subject(fresh, customers)
    placed = _place(fresh, threader, customers, answers, now)
    # A conversation opened earlier in the batch may have been merged into another since.
    opened_then_merged = {
        id(p) for p, c, _ in placed if p.new_conversation and threader.resolve(c) is not c
    }
    placed = [(p, threader.resolve(c), m) for p, c, m in placed]
    _write(placed, opened_then_merged, threader, now)
    _set_records_state([p.record.pk for p in fresh], InboundState.STORED, now)
    stored_out.extend(
        Stored(m.pk, c.pk, c.channel_id, c.order_number, c.order_id) for _, c, m in placed
    )
    for p, conv, message in placed:
        p.record.state = InboundState.STORED
        results.append(Result(Outcome.STORED, p.record.pk, message.pk, conv.pk))
    return results


# A message of the batch, the conversation it joins or opens, and the message to write.
type _Placed = tuple[_Pending, Conversation, Message]


@dataclass
class _Answers:
    """What the batch's lookups answered."""

    customer_rows: list[tuple[Any, ...]]
    thread_rows: list[list[tuple[Any, ...]]]
    orders: _Orders
    message_ids: list[int]  # reserved for the new messages, popped from the end (or empty)
    customer_ids: list[int]  # reserved for new buyers, the same way


def _pending(items: list[tuple[InboundRecord, InboundMessage]]) -> list[_Pending]:
    channels = _channels({msg.channel_id for _, msg in items})
    slas = policies_for(set(channels))
    pending: list[_Pending] = []
    for record, msg in items:
        channel = channels.get(msg.channel_id)
        if channel is None:
            raise IngestError(f"channel {msg.channel_id} does not exist")
        pending.append(_Pending(record, _check_limits(msg), channel, slas[channel.pk]))
    return pending


def _drop_duplicates(
    pending: list[_Pending], check_existing: bool, now: datetime
) -> tuple[list[Result], list[_Pending]]:
    """The duplicates' results (already stored, or twice in the batch; their records marked),
    and the messages left to store."""
    existing = _existing_keys(pending) if check_existing else {}
    results: list[Result] = []
    seen: set[tuple[int, str]] = set()
    fresh: list[_Pending] = []
    for p in pending:
        key = (p.channel.pk, p.msg.external_id)
        if key in existing or key in seen:
            results.append(Result(Outcome.DUPLICATE, p.record.pk, message_id=existing.get(key)))
        else:
            seen.add(key)
            fresh.append(p)
    _set_records_state([r.record_id for r in results], InboundState.DUPLICATE, now)
    return results, fresh


def _look_up(fresh: list[_Pending], batch_size: int) -> _Answers:
    """The lookups do not depend on each other: on PostgreSQL they share one round trip, with
    ids for the new messages and buyers, whose inserts then need no answer. (Unused buyer
    ids leave gaps no one sees.)"""
    thread_queries = _Threader.queries(fresh)
    order_query = _order_query(fresh)
    lookups = [_customer_query(fresh), *thread_queries, *([order_query] if order_query else [])]
    unsaved = [p.record for p in fresh if p.record.pk is None]
    assert not unsaved or batch_size == 1  # currval: the id of the last one only
    if unsaved:
        lookups.append(fastsql.last_id_query(InboundRecord))
    reserve = fastsql.reserve_ids_query(Message, len(fresh))
    if reserve:
        lookups += [reserve, fastsql.reserve_ids_query(Customer, len(fresh)) or reserve]
    customer_rows, *answers = fastsql.select_all(lookups)
    thread_rows, answers = answers[: len(thread_queries)], answers[len(thread_queries) :]
    orders = _Orders(answers.pop(0) if order_query else [])
    if unsaved:
        ((unsaved[0].pk,),) = answers.pop(0)
    reserved = answers
    # Popped from the end: reversed, the batch's messages get ids in their order.
    message_ids, customer_ids = ([r[0] for r in reversed(rows)] for rows in reserved or ([], []))
    return _Answers(customer_rows, thread_rows, orders, message_ids, customer_ids)


def _place(
    fresh: list[_Pending],
    threader: _Threader,
    customers: dict[tuple[str, str], int],
    answers: _Answers,
    now: datetime,
) -> list[_Placed]:
    """Each message in the conversation it joins or opens, updated in memory."""
    placed: list[_Placed] = []
    for p in fresh:
        conv = threader.find(p)
        if conv is None:
            conv = _new_conversation(p, customers, now)
            p.new_conversation = True
            threader.remember_new(p, conv)
        message = _build_message(p, now)
        if answers.message_ids:
            message.pk = answers.message_ids.pop()
        threader.remember_message(p, conv)
        _apply_to_conversation(conv, p)
        if conv.order_id is None and conv.order_number:
            conv.order_id = answers.orders.pick(conv.shop_id, conv.order_number, conv.channel_id)
        placed.append((p, conv, message))
    return placed


def _write(
    placed: list[_Placed], opened_then_merged: set[int], threader: _Threader, now: datetime
) -> None:
    """Conversations first (new ones get their ids), then what points at them."""
    convs = {id(c): c for _, c, _ in placed}
    touched = [c for c in convs.values() if c.pk is not None]
    fastsql.insert([c for c in convs.values() if c.pk is None])
    for _, conv, message in placed:
        message.conversation = conv
    fastsql.insert([m for _, _, m in placed])
    _store_thread_refs([(p, m) for p, _, m in placed])
    events = _store_merges(threader, now)
    if touched:
        _update_conversations(touched)
    _store_attachments([(p.msg, m) for p, _, m in placed])
    _store_tags([(conv.pk, p.msg.tags) for p, conv, _ in placed if p.msg.tags])
    for p, conv, _ in placed:
        for event in p.events:
            if event.kind == EventKind.CREATED and id(p) in opened_then_merged:
                continue  # the conversation it opened was merged into an older one
            event.conversation = conv
            events.append(event)
    events.extend(threader.suggestion_events())
    fastsql.insert(events, returning=False)


def _check_limits(msg: InboundMessage) -> InboundMessage:
    """The message within MAX_MESSAGE_CHARS per body: a body over it is cut, with a note that
    says so, rather than the whole message refused (its other parts, its attachments and its
    buyer count more than the end of a long body). The original stays in the raw record, and
    in the source when the connector kept one."""
    limit = settings.MAX_MESSAGE_CHARS
    over = [name for name in ("text", "new_text", "html") if len(getattr(msg, name)) > limit]
    if not over:
        return msg
    where = "its source" if msg.source_sha256 else "its raw inbound record"
    changes: dict[str, str] = {}
    for name in over:
        value: str = getattr(msg, name)
        note = (
            f"[… truncated at {limit:,} of {len(value):,} characters: the original is in {where}]"
        )
        if name == "html":
            cut = value[: limit - len(note) - 7]
            if cut.rfind("<") > cut.rfind(">"):
                cut = cut[: cut.rfind("<")]  # not inside a tag, where the note would be lost
            changes[name] = cut + f"<p>{html_lib.escape(note)}</p>"
        else:
            changes[name] = value[: limit - len(note) - 2] + "\n\n" + note
    logger.info("message %s: %s truncated to %d characters", msg.external_id, over, limit)
    return msg.model_copy(update=changes)


def _new_conversation(
    p: _Pending, customers: dict[tuple[str, str], int], now: datetime
) -> Conversation:
    sender = p.msg.sender
    return Conversation(
        shop_id=p.channel.shop_id,
        channel=p.channel,
        customer_id=customers.get((sender.identity_kind, sender.identity_value.lower())),
        external_thread_id=p.msg.thread_id,
        order_number=p.msg.order_number,
        subject=p.msg.subject,
        language=p.msg.language,
        team_id=p.channel.team_id,
        status=Status.OPEN,
        created_at=p.msg.sent_at,
    )


def _build_message(p: _Pending, now: datetime) -> Message:
    msg = p.msg
    direction = Direction.IN if msg.direction == "in" else Direction.OUT
    return Message(
        channel=p.channel,
        direction=direction,
        author_name=msg.sender.name if direction == Direction.IN else "",
        external_id=msg.external_id,
        message_id=msg.message_id,
        in_reply_to=msg.in_reply_to,
        references=" ".join(msg.references),
        subject=msg.subject,
        text=msg.text,
        new_text=msg.new_text if msg.new_text != msg.text.strip() else "",
        html=sanitize(msg.html),
        is_auto=msg.is_auto,
        marketplace_reason=msg.reason,
        intent=msg.intent,
        intent_source=TriageSource.MARKETPLACE if msg.intent else TriageSource.NONE,
        sent_at=msg.sent_at,
        received_at=now,
        created_at=msg.sent_at,
        inbound_record=p.record,
        source_sha256=msg.source_sha256,
    )


def _store_thread_refs(pairs: list[tuple[_Pending, Message]]) -> None:
    """Keep every Message-ID each message has or names (see `_Threader`)."""
    rows = [
        ThreadRef(message_id=m.pk, channel_id=p.channel.pk, ref=ref)
        for p, m in pairs
        for ref in _thread_ids(p.msg)
    ]
    fastsql.insert(rows, returning=False)


def _store_merges(threader: _Threader, now: datetime) -> list[Event]:
    """Move what the conversations absorbed in this batch held into the ones that absorbed
    them (a few statements, however many there are), and return the events that say so.
    Absorbed conversations opened in this batch were never written: nothing to move."""
    moves = [(threader.resolve(c), c) for c in threader.absorbed if c.pk is not None]
    for into, conv in moves:
        conv.merged_into_id = into.pk  # (`into` may have been opened in this batch: its id is new)
    events = []
    for conv in {id(c): c for c in threader.reopened}.values():
        conv = threader.resolve(conv)
        events.append(Event(conversation=conv, kind=EventKind.REOPENED, actor_label="system"))
    if not moves:
        return events
    quote = connection.ops.quote_name
    pairs = [[into.pk, conv.pk] for into, conv in moves]
    tags = cast(type[Model], Conversation.tags.through)
    with connection.cursor() as cursor:
        for model in (Message, Event):
            cursor.executemany(
                f"UPDATE {_table(model)} SET conversation_id = %s WHERE conversation_id = %s",
                pairs,
            )
        cursor.executemany(
            f"INSERT INTO {_table(tags)} (conversation_id, tag_id) SELECT %s, tag_id "
            f"FROM {_table(tags)} WHERE conversation_id = %s ON CONFLICT DO NOTHING",
            pairs,
        )
        # What `merge.absorb` set: the kept conversation's assignment and the pointer.
        names = ["assignee", "team", "priority", "archived", "merged_into", "updated_at"]
        fields = [cast(Field, Conversation._meta.get_field(name)) for name in names]
        columns = ", ".join(f"{quote(f.column or f.name)} = %s" for f in fields)
        rows = []
        for conv in [c for _, c in moves] + list({id(i): i for i, _ in moves}.values()):
            conv.updated_at = now
            values = [f.get_db_prep_save(getattr(conv, f.attname), connection) for f in fields]
            rows.append([*values, conv.pk])
        cursor.executemany(f"UPDATE {_table(Conversation)} SET {columns} WHERE id = %s", rows)
    _update_conversations([c for _, c in moves])  # emptied: no messages, no deadline
    for into, conv in moves:
        count = threader.moved_counts.get(id(conv), 0)
        events.append(
            Event(
                conversation=into,
                kind=EventKind.MERGED,
                actor_label="system",
                data={"merged_from": conv.pk, "messages": count},
            )
        )
        events.append(
            Event(
                conversation=conv,
                kind=EventKind.MERGED,
                actor_label="system",
                data={"merged_into": into.pk},
            )
        )
    return events


def _store_attachments(pairs: list[tuple[InboundMessage, Message]]) -> None:
    limit = settings.MAX_ATTACHMENT_BYTES
    rows = []
    for msg, message in pairs:
        for att in msg.attachments:
            size = att.size if att.dropped_reason or att.sha256 else len(att.data)
            common: dict[str, Any] = {
                "message": message,
                "filename": att.filename or "attachment",
                "content_type": att.content_type,
                "size": size,
                "content_id": att.content_id,
                "inline": att.inline,
            }
            if att.dropped_reason:
                rows.append(Attachment(**common, dropped_reason=att.dropped_reason))
            elif size > limit:
                reason = f"not kept: {size:,} bytes, over the {limit:,}-byte limit"
                rows.append(Attachment(**common, dropped_reason=reason))
            elif att.sha256:  # stored by the connector already
                if files.exists(att.sha256):
                    rows.append(Attachment(**common, sha256=att.sha256))
                else:
                    reason = "not kept: the file stored on reception is missing"
                    rows.append(Attachment(**common, dropped_reason=reason))
            else:
                rows.append(Attachment(**common, sha256=files.store_bytes(att.data)))
    if rows:
        fastsql.insert(rows, returning=False)  # nothing reads their ids: no answer to wait for


def _store_tags(pairs: list[tuple[int, list[str]]]) -> None:
    """Tag conversations by name, creating the tags first seen. Plain SQL: the ORM's
    bulk_create opens an atomic block, which `fastsql.atomic` cannot have inside."""
    if not pairs:
        return
    names = sorted({name for _, tags in pairs for name in tags})
    fastsql.insert([Tag(name=name) for name in names], ignore_conflicts=True)
    placeholders, params = fastsql.in_list(names)
    ids = dict(
        fastsql.select(f"SELECT name, id FROM {_table(Tag)} WHERE name IN {placeholders}", params)
    )
    through = Conversation.tags.through
    rows = [
        through(conversation_id=conv_id, tag_id=ids[name])
        for conv_id, tags in pairs
        for name in sorted(set(tags))
    ]
    fastsql.insert(rows, ignore_conflicts=True)
