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

This module holds the entry points (live, bulk, retry); what was stored is announced after
commit by `inbox.hooks.messages_stored` (automation and order sync subscribe). The rest:
- `base`: what the modules share (`Stored`, `Result`, `Outcome`, `IngestError`, a pending message);
- `parsing`: raw bytes to a validated `InboundMessage`;
- `store`: the batch store, one transaction for many messages, and the rows it writes;
- `lookups`: what the batch store reads first (channels, duplicates, customers, orders);
- `threader`: which conversation a message belongs to (`_Threader`, the subject rules);
- `conversation`: a conversation's fields updated for a new message, and their UPDATE;
- `sql`: the small SQL helpers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from comptoir.connectors.base import InboundMessage
from comptoir.inbox import fastsql, hooks
from comptoir.inbox.ingest.base import IngestError, Outcome, Result, Stored
from comptoir.inbox.ingest.lookups import _channels
from comptoir.inbox.ingest.parsing import _guess_external_id, describe_validation_error, parse
from comptoir.inbox.ingest.store import _store_batch
from comptoir.inbox.ingest.threader import normalize_subject
from comptoir.inbox.models import Channel, InboundRecord, InboundState

__all__ = [
    "STALE_AFTER",
    "IngestError",
    "Outcome",
    "Result",
    "Stored",
    "describe_validation_error",
    "ingest",
    "ingest_many",
    "normalize_subject",
    "parse",
    "process_record",
    "receive",
    "recover_stale",
    "retry_failed",
]


logger = logging.getLogger("comptoir.ingest")


MAX_RACE_RETRIES = 3


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
    if record.source == "webhook":
        return _webhook_again(record)
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
    # Webhook bodies wait for their channel's poll, however long (see `_webhook_again`).
    records = (
        InboundRecord.objects.filter(state=InboundState.RECEIVED, received_at__lt=cutoff)
        .exclude(source="webhook")
        .order_by("id")[:limit]
    )
    results = [process_record(record) for record in records]
    if results:
        logger.warning("recovered %d inbound records left unstored", len(results))
    return results


def _webhook_again(record: InboundRecord) -> Result:
    """A webhook body (`connectors.webhooks`) is read by its channel's connector, not parsed
    here: retrying it puts it back in the channel's queue and polls the channel."""
    from comptoir.inbox.actions import request_channel_poll

    InboundRecord.objects.filter(pk=record.pk).update(state=InboundState.RECEIVED, error="")
    if record.channel_id is not None:
        with transaction.atomic():
            request_channel_poll(record.channel_id)
    return Result(Outcome.FAILED, record.pk, error="queued again for its channel")


def _existing_channel_id(channel_id: int | None) -> int | None:
    if channel_id is None or not Channel.objects.filter(id=channel_id).exists():
        return None
    return channel_id


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


def _schedule_after_ingest(stored: list[Stored]) -> None:
    """Announce them after the transaction that stored them: at once, or when the caller's own
    transaction commits (subscribers must see the messages, and queue tasks for them only if
    they stay; one that fails never undoes or hides a stored message)."""
    if stored:
        hooks.messages_stored.emit(stored)


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
