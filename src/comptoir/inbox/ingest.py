"""Ingest: inbound messages from any channel into conversations.

The raw payload is written first (`InboundRecord`, committed on its own), then one transaction
stores the customer, finds or opens the conversation, stores the message and its events. Ingest
is idempotent on `(channel, external_id)`: the unique index decides between two processes racing
on the same message, and the loser finds the winner's message on retry.

On PostgreSQL, live mode sends both transactions in one pipeline (`fastsql.atomic`): the raw
record's INSERT and COMMIT travel with the lookups, and its id comes back with their answers.
It is committed first all the same, and a failure after it leaves it `failed` with its error.

Live mode (`ingest`, `receive`) stores one message per transaction; bulk mode (`ingest_many`)
stores a batch per transaction with set-based queries and falls back to one by one for a batch
that fails, so that one bad message never costs the others.
"""

from __future__ import annotations

import html as html_lib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from pydantic import ValidationError

from comptoir.connectors.base import InboundMessage
from comptoir.inbox import fastsql, files, merge
from comptoir.inbox.models import (
    Attachment,
    Channel,
    Conversation,
    Customer,
    CustomerIdentity,
    Direction,
    Event,
    EventKind,
    InboundRecord,
    InboundState,
    Message,
    SLAState,
    Status,
    Tag,
    ThreadRef,
)
from comptoir.lib.html import sanitize
from comptoir.lib.text import snippet
from comptoir.orders.models import Order
from comptoir.sla.policies import Policy, policies_for

logger = logging.getLogger("comptoir.ingest")


@dataclass(frozen=True)
class Stored:
    """A message just stored, as the after-ingest hooks see it: what ingest knows anyway, so
    that a hook needs no query to tell whether it has anything to do."""

    message_id: int
    conversation_id: int
    channel_id: int  # the conversation's
    order_number: str  # the conversation's
    order_id: int | None  # the conversation's order, when one is linked


# Called after commit with the newly stored messages (triage, SLA, rules register here).
AFTER_INGEST: list[Callable[[list[Stored]], None]] = []

MAX_RACE_RETRIES = 3


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    FAILED = "failed"


@dataclass
class Result:
    outcome: Outcome
    record_id: int
    message_id: int | None = None
    conversation_id: int | None = None
    error: str = ""


class IngestError(ValueError):
    """The message cannot be stored as it is; the reason is shown to a human."""


# -- entry points ------------------------------------------------------------------------------


def ingest(msg: InboundMessage, *, source: str = "connector") -> Result:
    """Store one message a connector produced (live mode)."""
    record = InboundRecord(
        channel_id=msg.channel_id,
        external_id=msg.external_id,
        source=source,
        raw=msg.model_dump_json().encode(),
    )
    if not fastsql.pipelines() or msg.channel_id not in _channels({msg.channel_id}):
        # (An unknown channel: the raw record is refused, and the caller told, as ever.)
        fastsql.insert([record])
    # Otherwise the raw record is committed first in the same round trip as the lookups.
    return _store_one(record, msg)


def receive(raw: bytes, *, source: str = "api", channel_id: int | None = None) -> Result:
    """Keep raw bytes first, then parse and store them; whatever is wrong ends in the record."""
    record = InboundRecord(
        channel_id=_existing_channel_id(channel_id),
        source=source,
        raw=raw,
        external_id=_guess_external_id(raw),
    )
    fastsql.insert([record])
    return process_record(record)


def process_record(record: InboundRecord) -> Result:
    """(Re)process a kept record: used by `receive` and by `comptoir inbound retry`."""
    try:
        msg = parse(
            bytes(record.raw),
            channel_id=record.channel_id,
            # A connector's record may name the files it stored; a payload from outside
            # must not reach someone else's file by its hash.
            stored_files=record.source == "connector",
        )
    except IngestError as exc:
        return _fail(record, str(exc))
    return _store_one(record, msg)


def ingest_many(
    items: Iterable[InboundMessage | bytes],
    *,
    source: str = "import",
    batch_size: int = 500,
    batch_bytes: int | None = None,
    channel_id: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[Outcome, int]:
    """Bulk mode for imports: raw records per batch, then one transaction per batch.

    A batch ends at `batch_size` messages or, when given, once it weighs `batch_bytes` (its
    bodies and attachments, stored or not): a few big mails are stored, and visible, as soon
    as they are read, instead of waiting for a hundred others."""
    counts = dict.fromkeys(Outcome, 0)
    for batch in _batched(items, batch_size, batch_bytes, _weight):
        for result in _ingest_batch(batch, source=source, channel_id=channel_id):
            counts[result.outcome] += 1
        if progress:
            progress(len(batch))
    return counts


def retry_failed(record_ids: Iterable[int] | None = None) -> list[Result]:
    records = InboundRecord.objects.filter(state=InboundState.FAILED).order_by("id")
    if record_ids is not None:
        records = records.filter(id__in=list(record_ids))
    return [process_record(record) for record in records.iterator()]


# Storing takes milliseconds: a record still `received` after this long was abandoned by a
# process that died, and is processed again. Ingest is idempotent, so a slow one is harmless.
STALE_AFTER = timedelta(minutes=10)


def recover_stale(older_than: timedelta = STALE_AFTER, limit: int = 10_000) -> list[Result]:
    """Store the raw records that were kept but never stored."""
    cutoff = timezone.now() - older_than
    records = InboundRecord.objects.filter(
        state=InboundState.RECEIVED, received_at__lt=cutoff
    ).order_by("id")[:limit]
    results = [process_record(record) for record in records]
    if results:
        logger.warning("recovered %d inbound records left unstored", len(results))
    return results


# -- parsing -----------------------------------------------------------------------------------


def parse(
    raw: bytes, *, channel_id: int | None = None, stored_files: bool = False
) -> InboundMessage:
    """Raw JSON bytes → a validated InboundMessage, or an IngestError saying what is wrong.

    `stored_files`: whether attachments may name a file already stored (a connector's own
    record) rather than carry their bytes."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"payload is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(f"payload is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise IngestError("payload must be a JSON object")
    if channel_id is not None:
        # The channel it was sent to wins: a payload must not smuggle itself into another one.
        named = data.setdefault("channel_id", channel_id)
        if named != channel_id:
            raise IngestError(
                f"channel_id in the payload ({named}) differs from the channel it was sent to "
                f"({channel_id})"
            )
    try:
        msg = InboundMessage.model_validate(data)
    except ValidationError as exc:
        raise IngestError(describe_validation_error(exc)) from None
    if not stored_files and any(att.sha256 for att in msg.attachments):
        raise IngestError("attachments must carry their data (base64), not a sha256")
    return msg


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _guess_external_id(raw: bytes) -> str:
    # Only for finding the record later; parsing proper happens after the raw is safe.
    try:
        value = json.loads(raw).get("external_id", "")
    except (ValueError, AttributeError):
        return ""
    return str(value)[:255] if isinstance(value, str | int) else ""


def _existing_channel_id(channel_id: int | None) -> int | None:
    if channel_id is None or not Channel.objects.filter(id=channel_id).exists():
        return None
    return channel_id


# -- storing -----------------------------------------------------------------------------------


def _store_one(record: InboundRecord, msg: InboundMessage) -> Result:
    """Store one message whose raw record is written, or, when it has no id yet, is written in
    a transaction of its own just before (see `fastsql.atomic`)."""
    for attempt in range(MAX_RACE_RETRIES):
        raw_first = None
        if record.pk is None:
            # No RETURNING: its id comes back with the lookups (`_store_batch`).
            raw_first = partial(fastsql.insert, [record], returning=False)
        stored: list[Stored] = []
        try:
            with fastsql.atomic(committed_first=raw_first):
                # Live mode trusts the unique index on the first try (duplicates are rare and
                # end in IntegrityError) and looks before it leaps only on a retry.
                (result,) = _store_batch([(record, msg)], stored, check_existing=attempt > 0)
        except Exception as exc:
            if record.pk is None and not _find_sent_record(record):
                raise  # the raw record itself was refused: nothing is kept, as without a pipeline
            if isinstance(exc, IntegrityError):
                # Another process stored the same message or identity first: look again.
                logger.debug("ingest race on record %s: %s", record.pk, exc)
                last_error = exc
                continue
            if isinstance(exc, IngestError):
                return _fail(record, str(exc))
            logger.exception("ingest of record %s failed", record.pk)
            return _fail(record, f"{type(exc).__name__}: {exc}")
        _schedule_after_ingest(stored)
        return result
    return _fail(record, f"gave up after {MAX_RACE_RETRIES} conflicting attempts: {last_error}")


def _find_sent_record(record: InboundRecord) -> bool:
    """After a failure before the raw record's id was read: whether it was committed all the
    same (it was, unless the database refused it), and its id then."""
    record.pk = fastsql.sent_row_id(InboundRecord)
    return record.pk is not None


def _fail(record: InboundRecord, error: str) -> Result:
    InboundRecord.objects.filter(pk=record.pk).update(
        state=InboundState.FAILED,
        error=error[:5000],
        attempts=record.attempts + 1,
        processed_at=timezone.now(),
    )
    record.state, record.error = InboundState.FAILED, error
    return Result(Outcome.FAILED, record.pk, error=error)


def _ingest_batch(
    batch: list[InboundMessage | bytes], *, source: str, channel_id: int | None
) -> list[Result]:
    records = []
    for item in batch:
        chan: int | None
        if isinstance(item, InboundMessage):
            raw, ext, chan = item.model_dump_json().encode(), item.external_id, item.channel_id
        else:
            raw, ext, chan = item, _guess_external_id(item), channel_id
        records.append(InboundRecord(channel_id=chan, external_id=ext, source=source, raw=raw))
    fastsql.insert(records)  # raw first, committed before anything else

    results: list[Result] = []
    ready: list[tuple[InboundRecord, InboundMessage]] = []
    for record, item in zip(records, batch, strict=True):
        if isinstance(item, InboundMessage):
            ready.append((record, item))
            continue
        try:
            ready.append((record, parse(item, channel_id=channel_id)))
        except IngestError as exc:
            results.append(_fail(record, str(exc)))
    stored: list[Stored] = []
    try:
        with fastsql.pipeline(), transaction.atomic():
            results.extend(_store_batch(ready, stored))
    except Exception as exc:
        # One bad message (or a race) spoils the batch: redo it one by one, each with its fate.
        logger.info("batch of %d fell back to one by one: %s", len(ready), exc)
        results.extend(_store_one(record, msg) for record, msg in ready)
    else:
        _schedule_after_ingest(stored)
    return results


@dataclass
class _Pending:
    record: InboundRecord
    msg: InboundMessage
    channel: Channel
    policy: Policy  # the channel's SLA policy (cached per process: no query per message)
    new_conversation: bool = False
    events: list[Event] = field(default_factory=list)


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
    channels = _channels({msg.channel_id for _, msg in items})
    slas = policies_for(set(channels))
    results: list[Result] = []
    pending: list[_Pending] = []
    for record, msg in items:
        channel = channels.get(msg.channel_id)
        if channel is None:
            raise IngestError(f"channel {msg.channel_id} does not exist")
        pending.append(_Pending(record, _check_limits(msg), channel, slas[channel.pk]))

    existing = _existing_keys(pending) if check_existing else {}
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
    if not fresh:
        return results

    # The lookups do not depend on each other: on PostgreSQL they share one round trip, with
    # ids for the new messages and buyers, whose inserts then need no answer. (Unused buyer
    # ids leave gaps no one sees.)
    thread_queries = _Threader.queries(fresh)
    order_query = _order_query(fresh)
    lookups = [_customer_query(fresh), *thread_queries, *([order_query] if order_query else [])]
    unsaved = [p.record for p in fresh if p.record.pk is None]
    assert not unsaved or len(items) == 1  # currval: the id of the last one only
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
    customers = _resolve_customers(fresh, now, customer_rows, customer_ids)
    threader = _Threader(fresh, thread_rows)
    threader.load_by_subject(fresh, customers)
    stored: list[tuple[_Pending, Conversation, Message]] = []
    for p in fresh:
        conv = threader.find(p)
        if conv is None:
            conv = _new_conversation(p, customers, now)
            p.new_conversation = True
            threader.remember_new(p, conv)
        message = _build_message(p, now)
        if message_ids:
            message.pk = message_ids.pop()
        threader.remember_message(p, conv)
        _apply_to_conversation(conv, p)
        if conv.order_id is None and conv.order_number:
            conv.order_id = orders.pick(conv.shop_id, conv.order_number, conv.channel_id)
        stored.append((p, conv, message))

    # A conversation opened earlier in the batch may have been merged into another since.
    opened_then_merged = {
        id(p) for p, c, _ in stored if p.new_conversation and threader.resolve(c) is not c
    }
    stored = [(p, threader.resolve(c), m) for p, c, m in stored]
    convs = {id(c): c for _, c, _ in stored}
    touched = [c for c in convs.values() if c.pk is not None]
    # Conversations first (new ones get their ids), then what points at them.
    fastsql.insert([c for c in convs.values() if c.pk is None])
    for _, conv, message in stored:
        message.conversation = conv
    fastsql.insert([m for _, _, m in stored])
    _store_thread_refs([(p, m) for p, _, m in stored])
    merged = _store_merges(threader, now)
    if touched:
        _update_conversations(touched)
    _store_attachments([(p.msg, m) for p, _, m in stored])
    _store_tags([(conv.pk, p.msg.tags) for p, conv, _ in stored if p.msg.tags])
    events = merged
    for p, conv, _ in stored:
        for event in p.events:
            if event.kind == EventKind.CREATED and id(p) in opened_then_merged:
                continue  # the conversation it opened was merged into an older one
            event.conversation = conv
            events.append(event)
    events.extend(threader.suggestion_events())
    fastsql.insert(events, returning=False)
    _set_records_state([p.record.pk for p in fresh], InboundState.STORED, now)
    stored_out.extend(
        Stored(m.pk, c.pk, c.channel_id, c.order_number, c.order_id) for _, c, m in stored
    )
    for p, conv, message in stored:
        p.record.state = InboundState.STORED
        results.append(Result(Outcome.STORED, p.record.pk, message.pk, conv.pk))
    return results


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


# What ingest reads of a channel (shop, team, kind, marketplace) changes seldom; reading it for
# every message cost a query each. Saving a channel clears its entry in this process; other
# processes see the change within CHANNEL_CACHE_SECONDS.
CHANNEL_CACHE_SECONDS = 30.0
_channel_cache: dict[int, tuple[float, Channel]] = {}


def _channels(ids: set[int]) -> dict[int, Channel]:
    now = time.monotonic()
    found = {i: hit[1] for i in ids if (hit := _channel_cache.get(i)) and hit[0] > now}
    missing = ids - found.keys()
    if missing:
        for channel in Channel.objects.filter(pk__in=missing).only(
            "id", "shop_id", "team_id", "kind", "marketplace"
        ):
            _channel_cache[channel.pk] = (now + CHANNEL_CACHE_SECONDS, channel)
            found[channel.pk] = channel
    return found


@receiver([post_save, post_delete], sender=Channel)
def _forget_channel(sender: type[Channel], instance: Channel, **kwargs: Any) -> None:
    _channel_cache.pop(instance.pk, None)


def _schedule_after_ingest(stored: list[Stored]) -> None:
    """After the transaction that stored them: at once, or when the caller's own transaction
    commits (the hooks must see the messages, and queue tasks for them only if they stay)."""
    if AFTER_INGEST and stored:
        transaction.on_commit(lambda: _after_ingest(stored))


def _after_ingest(stored: list[Stored]) -> None:
    for hook in AFTER_INGEST:
        try:
            hook(stored)
        except Exception:  # a follow-up must never undo or hide a stored message
            logger.exception("after-ingest hook %s failed", hook)


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


def _existing_keys(pending: list[_Pending]) -> dict[tuple[int, str], int]:
    by_channel: dict[int, list[str]] = {}
    for p in pending:
        by_channel.setdefault(p.channel.pk, []).append(p.msg.external_id)
    where, params = _any_of("channel_id", "external_id", by_channel)
    rows = fastsql.select(
        f"SELECT channel_id, external_id, id FROM {_table(Message)} WHERE {where}", params
    )
    return {(c, e): i for c, e, i in rows}


def _customer_query(fresh: list[_Pending]) -> tuple[str, list[Any]]:
    wanted: dict[str, set[str]] = {}
    for p in fresh:
        sender = p.msg.sender
        wanted.setdefault(sender.identity_kind, set()).add(sender.identity_value.lower())
        if sender.email:
            wanted.setdefault("email", set()).add(sender.email.lower())
    where, params = _any_of("kind", "value", wanted)
    return f"SELECT kind, value, customer_id FROM {_table(CustomerIdentity)} WHERE {where}", params


def _resolve_customers(
    fresh: list[_Pending], now: datetime, rows: list[tuple[Any, ...]], ids: list[int]
) -> dict[tuple[str, str], int]:
    """Map (identity kind, value) → customer id, creating buyers seen for the first time.

    `rows` answer `_customer_query`; `ids` are reserved for new buyers (or empty). A new
    identity that carries an email already known joins that customer: the same buyer writing
    on another channel.
    """
    known = {(kind, value): cid for kind, value, cid in rows}
    new_customers: dict[tuple[str, str], Customer] = {}
    new_identities: list[tuple[tuple[str, str], CustomerIdentity]] = []
    for p in fresh:
        sender = p.msg.sender
        key = (sender.identity_kind, sender.identity_value.lower())
        if key in known or key in new_customers:
            continue
        email = sender.email.lower()
        identity = CustomerIdentity(kind=key[0], value=key[1], channel=p.channel)
        if email and ("email", email) in known:
            known[key] = known[("email", email)]
            new_identities.append((key, identity))
            continue
        if email and ("email", email) in new_customers:  # seen earlier in this batch
            new_customers[key] = new_customers[("email", email)]
            new_identities.append((key, identity))
            continue
        customer = Customer(
            id=ids.pop() if ids else None,
            name=sender.name,
            email=email,
            language=p.msg.language,
            created_at=p.msg.sent_at,
        )
        new_customers[key] = customer
        new_identities.append((key, identity))
        if email and key != ("email", email):
            new_customers[("email", email)] = customer
            new_identities.append(
                (("email", email), CustomerIdentity(kind="email", value=email, channel=p.channel))
            )
    if new_customers:
        fastsql.insert(list({id(c): c for c in new_customers.values()}.values()))
        for key, customer in new_customers.items():
            known[key] = customer.pk
    for key, identity in new_identities:
        identity.customer_id = known[key]
        identity.created_at = now
    if new_identities:
        fastsql.insert([identity for _, identity in new_identities], returning=False)
    return known


def _order_query(fresh: list[_Pending]) -> tuple[str, list[Any]] | None:
    """The shop's orders the batch's messages name (an Amazon order may be known through
    another channel of the shop than the mailbox the buyer wrote to)."""
    wanted: dict[int, set[str]] = {}
    for p in fresh:
        if p.msg.order_number:
            wanted.setdefault(p.channel.shop_id, set()).add(p.msg.order_number)
    if not wanted:
        return None
    where, params = _any_of("shop_id", "external_id", wanted)
    return f"SELECT shop_id, external_id, channel_id, id FROM {_table(Order)} WHERE {where}", params


class _Orders:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.found: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for shop_id, number, channel_id, order_id in sorted(rows, key=lambda r: r[3]):
            self.found.setdefault((shop_id, number), []).append((channel_id, order_id))

    def pick(self, shop_id: int, number: str, channel_id: int) -> int | None:
        """The order of this number on the conversation's channel, else the shop's first."""
        candidates = self.found.get((shop_id, number), [])
        for order_channel, order_id in candidates:
            if order_channel == channel_id:
                return order_id
        return candidates[0][1] if candidates else None


class _Threader:
    """Finds the conversation of each message: channel thread id, then Message-IDs (its own,
    In-Reply-To and References), then reply token, then the same customer's conversation on
    the same order, then subject. Every rule stays inside the message's channel. Knows the
    conversations and Message-IDs of the batch's earlier messages.

    Message-IDs thread the JWZ way, independent of arrival order: every id a message carries
    or refers to is kept (`ThreadRef`), present or not. A message joins the conversations
    holding any of its ids: a parent arriving late joins its waiting replies, and a message
    whose ids are in several conversations proves them one thread, so they are merged (into
    the one holding the oldest message; see `merge.survivor`)."""

    @staticmethod
    def _keys(
        fresh: list[_Pending],
    ) -> tuple[dict[int, set[str]], dict[int, set[str]], dict[int, set[str]], dict[int, set[int]]]:
        threads: dict[int, set[str]] = {}
        orders: dict[int, set[str]] = {}
        refs: dict[int, set[str]] = {}
        hints: dict[int, set[int]] = {}
        for p in fresh:
            if p.msg.conversation_hint:
                hints.setdefault(p.channel.pk, set()).add(p.msg.conversation_hint)
            if p.msg.thread_id:
                threads.setdefault(p.channel.pk, set()).add(p.msg.thread_id)
            elif p.msg.order_number:  # the order only threads messages without a thread id
                orders.setdefault(p.channel.pk, set()).add(p.msg.order_number)
            if ids := _thread_ids(p.msg):
                refs.setdefault(p.channel.pk, set()).update(ids)
        return threads, orders, refs, hints

    @classmethod
    def queries(cls, fresh: list[_Pending]) -> list[tuple[str, list[Any]]]:
        """The lookups `__init__` needs answered, in order: by thread or order, then by
        Message-ID when a message has any."""
        threads, orders, refs, hints = cls._keys(fresh)
        conv, table = fastsql.columns(Conversation), _table(Conversation)
        by_thread, thread_params = _any_of("channel_id", "external_thread_id", threads)
        by_order, order_params = _any_of("channel_id", "order_number", orders)
        by_hint, hint_params = _any_of("channel_id", "id", hints)
        where = " OR ".join(w for w in (by_thread, by_order, by_hint) if w) or "1 = 0"
        queries = [
            (
                f"SELECT {conv} FROM {table} WHERE ({where}) AND deleted_at IS NULL ORDER BY id",
                [*thread_params, *order_params, *hint_params],
            )
        ]
        if refs:
            # A Message-ID only threads inside its channel: the same mail delivered to two
            # mailboxes belongs to each mailbox's own conversation.
            by_ref, ref_params = _any_of("r.channel_id", "r.ref", refs)
            queries.append(
                (
                    f"SELECT {conv}, x.ref FROM (SELECT DISTINCT m.conversation_id, "
                    f"r.channel_id, r.ref FROM {_table(ThreadRef)} r "
                    f"JOIN {_table(Message)} m ON m.id = r.message_id WHERE {by_ref}) x "
                    f"JOIN {table} ON {table}.id = x.conversation_id "
                    f"WHERE {table}.channel_id = x.channel_id AND {table}.deleted_at IS NULL "
                    f"ORDER BY {table}.id",
                    ref_params,
                )
            )
        return queries

    def __init__(self, fresh: list[_Pending], rows: list[list[tuple[Any, ...]]]) -> None:
        threads, orders, _, hints = self._keys(fresh)
        self.by_id: dict[tuple[int, int], Conversation] = {}
        self.by_thread: dict[tuple[int, str], Conversation] = {}
        # Every conversation on the order: only the same customer's is joined, the others are
        # suggested (an order number alone never merges two senders).
        self.by_order: dict[tuple[int, str], list[Conversation]] = {}
        # (channel, Message-ID) → the conversations holding a message that has or names it.
        self.by_ref: dict[tuple[int, str], list[Conversation]] = {}
        self.suggestions: list[tuple[Conversation, Conversation]] = []
        # Conversations found to be part of another one in this batch, by id(): absorbed → kept.
        self._into: dict[int, Conversation] = {}
        self.absorbed: list[Conversation] = []  # in the order they were absorbed
        self.reopened: list[Conversation] = []
        self.moved_counts: dict[int, int] = {}
        found: dict[int, Conversation] = {}
        for conv in fastsql.to_models(Conversation, rows[0]):
            found[conv.pk] = conv
            if conv.external_thread_id in threads.get(conv.channel_id, ()):
                self.by_thread[(conv.channel_id, conv.external_thread_id)] = conv
            if conv.order_number in orders.get(conv.channel_id, ()):
                self.by_order.setdefault((conv.channel_id, conv.order_number), []).append(conv)
            if conv.pk in hints.get(conv.channel_id, ()):
                self.by_id[(conv.channel_id, conv.pk)] = conv
        by_ref = rows[1] if len(rows) > 1 else []
        for conv, row in zip(fastsql.to_models(Conversation, by_ref), by_ref, strict=True):
            # One instance per conversation: the batch updates it in memory.
            conv = found.setdefault(conv.pk, conv)
            self.by_ref.setdefault((conv.channel_id, row[-1]), []).append(conv)
        self._found = found
        self._customers: dict[tuple[str, str], int] = {}

    def find(self, p: _Pending) -> Conversation | None:
        conv = None
        if p.msg.thread_id:
            conv = self.by_thread.get((p.channel.pk, p.msg.thread_id))
        if conv is None:
            conv = self._by_message_ids(p)
        if conv is None and p.msg.conversation_hint:
            conv = self.by_id.get((p.channel.pk, p.msg.conversation_hint))
        customer = self._customers.get(_identity(p))
        if conv is None and p.msg.order_number and not p.msg.thread_id:
            on_order = self.by_order.get((p.channel.pk, p.msg.order_number), [])
            conv = next(
                (c for c in on_order if customer and c.customer_id == customer and self._live(c)),
                None,
            )
        by_subject = getattr(self, "by_subject", {})
        if conv is None and by_subject:
            key = self._subject_key(p, customer)
            candidate = by_subject.get(key) if key else None
            last = candidate.last_message_at if candidate else None
            if (
                candidate
                and (last is None or p.msg.sent_at - last <= SUBJECT_WINDOW)
                and not _other_order(candidate, p)
            ):
                conv = candidate
        return self._follow_merges(self.resolve(conv) if conv is not None else None)

    def _by_message_ids(self, p: _Pending) -> Conversation | None:
        """The conversation the message's ids lead to; several are merged into one first."""
        linked: dict[int, Conversation] = {}
        for ref in _thread_ids(p.msg):
            for holder in self.by_ref.get((p.channel.pk, ref), ()):
                conv = self._follow_merges(self.resolve(holder))
                if conv is not None and conv.channel_id == p.channel.pk:
                    linked.setdefault(id(conv), conv)
        if not linked:
            return None
        convs = list(linked.values())
        kept = merge.survivor(convs)
        for conv in convs:
            if conv is not kept:
                self._absorb(conv, into=kept)
        return kept

    def _absorb(self, conv: Conversation, *, into: Conversation) -> None:
        self.moved_counts[id(conv)] = conv.message_count
        if merge.absorb(into, conv):
            self.reopened.append(into)
        self._into[id(conv)] = into
        self.absorbed.append(conv)

    def resolve(self, conv: Conversation) -> Conversation:
        """The conversation that `conv` became in this batch (itself unless absorbed)."""
        while (into := self._into.get(id(conv))) is not None:
            conv = into
        return conv

    def _live(self, conv: Conversation) -> bool:
        return id(conv) not in self._into and conv.merged_into_id is None

    def _follow_merges(self, conv: Conversation | None) -> Conversation | None:
        hops = 0
        while conv is not None and conv.merged_into_id is not None and hops < 10:
            target = self._found.get(conv.merged_into_id)
            if target is None:
                target = Conversation.objects.filter(pk=conv.merged_into_id).first()
                if target is None:
                    return conv
                self._found[target.pk] = target
            conv, hops = self.resolve(target), hops + 1
        if conv is not None and conv.deleted_at is not None:
            return None
        return conv

    def remember_new(self, p: _Pending, conv: Conversation) -> None:
        if p.msg.thread_id:
            self.by_thread[(p.channel.pk, p.msg.thread_id)] = conv
        if p.msg.order_number:
            on_order = self.by_order.setdefault((p.channel.pk, p.msg.order_number), [])
            # Another sender's conversation on the same order: shown on both, never merged.
            self.suggestions.extend(
                (conv, other)
                for other in on_order
                if other.customer_id != conv.customer_id and self._live(other)
            )
            on_order.append(conv)
        if key := self._subject_key(p, conv.customer_id):
            self.by_subject[key] = conv

    def _subject_key(self, p: _Pending, customer_id: int | None) -> tuple[int, int, str] | None:
        subject = normalize_subject(p.msg.subject)
        if not (p.msg.thread_by_subject and subject and customer_id):
            return None
        return (p.channel.pk, customer_id, subject)

    def load_by_subject(self, fresh: list[_Pending], customers: dict[tuple[str, str], int]) -> None:
        """For messages nothing else threads: the sender's recent conversations on the channel
        (a second lookup, made only when such messages exist)."""
        self.by_subject: dict[tuple[int, int, str], Conversation] = {}
        self._customers = customers
        wanted: dict[int, set[int]] = {}
        since: datetime | None = None
        for p in fresh:
            customer = customers.get(_identity(p))
            if self._subject_key(p, customer) is None or self._peek(p):
                continue
            wanted.setdefault(p.channel.pk, set()).add(customer)  # type: ignore[arg-type]
            since = min(filter(None, [since, p.msg.sent_at - SUBJECT_WINDOW]))
        if not wanted:
            return
        where, params = _any_of("channel_id", "customer_id", wanted)
        cutoff = Conversation._meta.get_field("last_message_at").get_db_prep_save(since, connection)
        convs = fastsql.load(
            Conversation,
            f"({where}) AND last_message_at >= %s AND deleted_at IS NULL "
            "AND merged_into_id IS NULL ORDER BY last_message_at",
            [*params, cutoff],
        )
        for conv in convs:  # the most recent one wins
            conv = self._found.setdefault(conv.pk, conv)
            key = (conv.channel_id, conv.customer_id or 0, normalize_subject(conv.subject))
            self.by_subject[key] = conv

    def _peek(self, p: _Pending) -> bool:
        """Whether a rule before the subject's threads the message (without merging)."""
        channel = p.channel.pk
        return bool(
            (p.msg.thread_id and (channel, p.msg.thread_id) in self.by_thread)
            or any((channel, ref) in self.by_ref for ref in _thread_ids(p.msg))
            or (p.msg.conversation_hint and (channel, p.msg.conversation_hint) in self.by_id)
        )

    def remember_message(self, p: _Pending, conv: Conversation) -> None:
        for ref in _thread_ids(p.msg):
            convs = self.by_ref.setdefault((conv.channel_id, ref), [])
            if not any(c is conv for c in convs):
                convs.append(conv)

    def suggestion_events(self) -> list[Event]:
        """ "Same order as #n" on both conversations an order links (call once they have ids)."""
        events = []
        for conv, other in self.suggestions:
            for a, b in ((conv, other), (other, conv)):
                events.append(
                    Event(
                        conversation=a,
                        kind=EventKind.SAME_ORDER,
                        actor_label="system",
                        created_at=conv.created_at,
                        data={"conversation": b.pk, "order_number": conv.order_number},
                    )
                )
        return events


# Threading by subject only joins a conversation whose last message is this recent.
SUBJECT_WINDOW = timedelta(days=7)
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|tr|aw|wg|sv|vs|r|rv|rif|enc)\s*:\s*)+", re.I)


def normalize_subject(subject: str) -> str:
    """ "Re: TR: Ma commande " and "ma commande" are the same conversation's subject."""
    return " ".join(_REPLY_PREFIX.sub("", subject).casefold().split())


def _other_order(conv: Conversation, p: _Pending) -> bool:
    """Whether the message names an order and the conversation another one."""
    named = p.msg.order_number
    return bool(conv.order_number and named and conv.order_number != named)


def _identity(p: _Pending) -> tuple[str, str]:
    return (p.msg.sender.identity_kind, p.msg.sender.identity_value.lower())


def _thread_ids(msg: InboundMessage) -> list[str]:
    """The Message-IDs that place a message in a thread: its own, then its ancestors'."""
    return list(dict.fromkeys(r for r in (msg.message_id, msg.in_reply_to, *msg.references) if r))


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
        sent_at=msg.sent_at,
        received_at=now,
        created_at=msg.sent_at,
        inbound_record=p.record,
        source_sha256=msg.source_sha256,
    )


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
                if files.path_for(att.sha256).exists():
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


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _any_of(key: str, column: str, values: Mapping[Any, Iterable[Any]]) -> tuple[str, list[Any]]:
    """`(key = %s AND column IN (...)) OR ...`: one clause per key, for a set-based lookup."""
    clauses, params = [], []
    for value, items in values.items():
        placeholders, listed = fastsql.in_list(items)
        clauses.append(f"({key} = %s AND {column} IN {placeholders})")
        params.extend([value, *listed])
    return " OR ".join(clauses), params


def _set_records_state(ids: list[int], state: InboundState, now: datetime) -> None:
    if not ids:
        return
    placeholders, params = fastsql.in_list(ids)
    processed = InboundRecord._meta.get_field("processed_at").get_db_prep_save(now, connection)
    fastsql.execute(
        f"UPDATE {_table(InboundRecord)} SET state = %s, processed_at = %s, error = '' "
        f"WHERE id IN {placeholders}",
        [state.value, processed, *params],
    )


def _weight(item: InboundMessage | bytes) -> int:
    if isinstance(item, bytes):
        return len(item)
    files_size = sum(att.size or len(att.data) for att in item.attachments)
    return len(item.text) + len(item.html) + files_size


def _batched[T](
    items: Iterable[T],
    size: int,
    max_weight: int | None = None,
    weight: Callable[[T], int] | None = None,
) -> Iterator[list[T]]:
    batch: list[T] = []
    total = 0
    for item in items:
        batch.append(item)
        if max_weight is not None and weight is not None:
            total += weight(item)
        if len(batch) >= size or (max_weight is not None and total >= max_weight):
            yield batch
            batch, total = [], 0
    if batch:
        yield batch
