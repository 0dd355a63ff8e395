"""An export imported into a shop of its own: channels, bulk ingest, bad rows, then triage."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import slugify

from comptoir.connectors.base import InboundMessage, Party
from comptoir.connectors.email import mime
from comptoir.history import sources
from comptoir.history.alongside import Alongside
from comptoir.history.mapping import (
    BadRow,
    ColumnMap,
    RowFacts,
    Skip,
    marketplace_of,
    party,
    read_row,
    to_inbound,
)
from comptoir.inbox import fastsql
from comptoir.inbox.actions import set_status
from comptoir.inbox.ingest import Outcome, ingest_many
from comptoir.inbox.models import (
    Channel,
    ChannelKind,
    Conversation,
    Customer,
    CustomerIdentity,
    Direction,
    Event,
    InboundRecord,
    Message,
    Shop,
    SLAState,
    Status,
    ThreadRef,
)
from comptoir.triage.tasks import read_now

SOURCE = "history"
KEEP_BAD = 20  # bad rows reported by line; the others only counted
TRIAGE_BATCH = 500

type Progress = Callable[[int], None]


@dataclass
class Report:
    stored: int = 0
    duplicates: int = 0
    failed: int = 0
    skipped: int = 0  # private notes, left out
    bad_count: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)
    read: int = 0  # messages triage read
    resolved: int = 0  # conversations the other tool had closed

    def bad_row(self, line: int, reason: str) -> None:
        self.bad_count += 1
        if len(self.bad) < KEEP_BAD:
            self.bad.append((line, reason))


class HistoryImport:
    """One import into the shop named `shop_name` (created the first time, reused after)."""

    def __init__(self, shop_name: str, columns: ColumnMap | None = None) -> None:
        self.shop = _shop(shop_name)
        self.columns = columns or ColumnMap({})
        self.report = Report()
        self._channels: dict[str, int] = {}
        # Each conversation's buyer, so that an answer names who it answers.
        self._buyers: dict[tuple[int, str], Party] = {}
        # Each conversation's status in the other tool, as its latest row says.
        self._statuses: dict[tuple[int, str], tuple[datetime, str]] = {}
        # What ingest writes, messages first (they grow the most).
        self._statistics = fastsql.Statistics(
            [
                Message,
                InboundRecord,
                Conversation,
                Event,
                Customer,
                CustomerIdentity,
                ThreadRef,
            ]
        )

    def channel_id(self, source_channel: str) -> int:
        """The shop's `api` channel for a source channel value, created when first seen."""
        key = source_channel.strip().lower()[:150] or "history"
        if key not in self._channels:
            channel, _ = Channel.objects.get_or_create(
                shop=self.shop,
                kind=ChannelKind.API,
                name=f"History: {key}",
                defaults={"marketplace": marketplace_of(key), "is_active": False},
            )
            self._channels[key] = channel.pk
        return self._channels[key]

    def import_rows(
        self,
        path: Path,
        fmt: str,
        *,
        batch_size: int = 500,
        progress: Progress | None = None,
        triage: bool = False,
    ) -> Report:
        """With `triage`, and a file whose rows are grouped by conversation, each batch's
        complete conversations are read meanwhile by a second process (`alongside`); what is
        left (the last conversation, or all of an ungrouped file) is for `triage()`."""
        items = self._messages_from_rows(sources.rows(path, fmt), progress)
        if not triage or not self._grouped(path, fmt):
            return self._ingest(items, batch_size, progress)
        with fastsql.asynchronous_commit(), Alongside(self.shop.pk) as reader:
            growing: set[tuple[int, str]] = set()
            for batch in itertools.batched(items, batch_size, strict=False):
                self._ingest(batch, batch_size, progress)
                # Grouped: every conversation before the last row's is complete.
                threads = growing | {(m.channel_id, m.thread_id) for m in batch}
                growing = {t for t in threads if t[1] == batch[-1].thread_id}
                reader.send(threads - growing)
                reader.collect()
            reader.collect(wait=True)
        self.report.read += reader.read
        return self.report

    def import_mbox(
        self,
        path: Path,
        our_addresses: Iterable[str],
        *,
        batch_size: int = 500,
        progress: Progress | None = None,
    ) -> Report:
        ours = {a.strip().lower() for a in our_addresses if a.strip()}
        items = self._messages_from_mails(sources.mails(path), ours, progress)
        return self._ingest(items, batch_size, progress)

    def triage(self, progress: Progress | None = None) -> int:
        """Read the shop's buyer messages not read yet, oldest first, a batch at a time (a
        crash halfway leaves the rest for the next run)."""
        unread = (
            Message.objects.filter(channel__shop=self.shop, direction=Direction.IN, triaged_at=None)
            .select_related("channel")
            .order_by("sent_at", "pk")
        )
        with fastsql.asynchronous_commit():  # (read again after a crash: they are unread)
            self._triage(unread, progress)
        return self.report.read

    def _triage(self, unread: QuerySet[Message], progress: Progress | None) -> None:
        while batch := list(unread[:TRIAGE_BATCH]):
            # One transaction per batch: the conversations' updates commit together, and what
            # their events queue on commit (the facts refresh, the rules pump) is queued once
            # per batch instead of once per conversation. The shop is the import's own.
            with transaction.atomic():
                read_now(batch)
            self.report.read += len(batch)
            if progress:
                progress(len(batch))

    def apply_statuses(self) -> int:
        """Resolve the conversations the other tool had closed (through the action, with its
        event); the others stay as ingest left them. Run again, it finds them resolved."""
        closed: dict[int, set[str]] = {}
        for (channel_id, thread), (_at, status) in self._statuses.items():
            if status.lower() in self.columns.closed:
                closed.setdefault(channel_id, set()).add(thread)
        for channel_id, threads in closed.items():
            convs = Conversation.objects.filter(
                channel_id=channel_id, external_thread_id__in=threads, deleted_at=None
            ).exclude(status=Status.RESOLVED)
            for conv in convs.iterator():
                set_status(conv, status=Status.RESOLVED, actor=None, via=SOURCE)
                self.report.resolved += 1
        return self.report.resolved

    def settle_deadlines(self, now: datetime | None = None) -> int:
        """The past's deadlines are past: conversations still waiting whose respond-by has
        gone by are marked missed here, at once and silently, rather than by the SLA sweep,
        which would alert the supervisors about history (and raise their priority).
        Returns how many."""
        now = now or timezone.now()
        return Conversation.objects.filter(
            channel__shop=self.shop,
            sla_state__in=[SLAState.OK, SLAState.AT_RISK],
            respond_by__lte=now,
        ).update(sla_state=SLAState.BREACHED)

    def unread_count(self) -> int:
        return Message.objects.filter(
            channel__shop=self.shop, direction=Direction.IN, triaged_at=None
        ).count()

    def _grouped(self, path: Path, fmt: str) -> bool:
        """Whether each conversation's rows follow one another in the file (one quick pass)."""
        done: set[str] = set()
        current = ""
        for _line, row in sources.rows(path, fmt):
            if isinstance(row, str):
                continue
            conversation = self.columns.value(row, "conversation")[:255]
            if conversation and conversation != current:
                if conversation in done:
                    return False
                done.add(current)
                current = conversation
        return True

    def _ingest(
        self, items: Iterable[InboundMessage], batch_size: int, progress: Progress | None
    ) -> Report:
        # Run again, an import stores what a crash lost: its commits need not wait for the
        # disk (on PostgreSQL the flushes were a third of the batches' wall time).
        def stored(count: int) -> None:
            self._statistics.grew(count)
            if progress:
                progress(count)

        with fastsql.asynchronous_commit():
            counts = ingest_many(items, source=SOURCE, batch_size=batch_size, progress=stored)
        self.report.stored += counts[Outcome.STORED]
        self.report.duplicates += counts[Outcome.DUPLICATE]
        self.report.failed += counts[Outcome.FAILED]
        return self.report

    def _messages_from_rows(
        self, rows: Iterable[sources.Row], progress: Progress | None
    ) -> Iterator[InboundMessage]:
        for line, row in rows:
            try:
                if isinstance(row, str):
                    raise BadRow(row)
                facts = read_row(row, self.columns)
                channel_id = self.channel_id(facts.channel)
                author_name, author_email = facts.message["author"]
                buyer = self._buyer(
                    channel_id,
                    facts.message["thread_id"],
                    party(author_name, author_email, facts.message["thread_id"])
                    if facts.direction == "in"
                    else None,
                )
                self._keep_status(channel_id, facts)
                yield to_inbound(facts, channel_id, buyer)
            except Skip:
                self.report.skipped += 1
            except (BadRow, ValueError) as exc:  # ValueError: pydantic's, a field refused
                self.report.bad_row(line, _first_line(exc))
            else:
                continue
            if progress:  # a row that is not stored still moves the bar
                progress(1)

    def _messages_from_mails(
        self, mails: Iterable[tuple[int, bytes]], ours: set[str], progress: Progress | None
    ) -> Iterator[InboundMessage]:
        channel_id = self.channel_id(self.columns.default_channel)
        for line, raw in mails:
            try:
                msg = mime.parse(raw, channel_id=channel_id)
            except ValueError as exc:
                self.report.bad_row(line, _first_line(exc))
                if progress:
                    progress(1)
                continue
            if msg.sender.identity_value in ours:
                # Our own answer: it names the buyer it went to, as the email connector's
                # sent mail does.
                to = [a for a in msg.meta.get("to", []) if a not in ours]
                buyer = Party(identity_value=to[0], email=to[0]) if to else msg.sender
                msg = msg.model_copy(update={"direction": "out", "sender": buyer})
            yield msg

    def _keep_status(self, channel_id: int, facts: RowFacts) -> None:
        if not facts.status:
            return
        key, at = (channel_id, facts.message["thread_id"]), facts.message["sent_at"]
        known = self._statuses.get(key)
        if known is None or at >= known[0]:
            self._statuses[key] = (at, facts.status)

    def _buyer(self, channel_id: int, thread: str, author: Party | None) -> Party:
        key = (channel_id, thread)
        if author is not None:
            self._buyers.setdefault(key, author)
            return author
        # An answer before any buyer message in the file: a placeholder buyer per thread.
        return self._buyers.get(key) or Party(
            identity_kind="history", identity_value=f"thread:{thread}"[:320]
        )


def _shop(name: str) -> Shop:
    slug = slugify(name)[:50] or "history"
    shop, _ = Shop.objects.get_or_create(slug=slug, defaults={"name": name.strip()[:200]})
    return shop


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return " ".join(text[:3])[:300] if text else type(exc).__name__
