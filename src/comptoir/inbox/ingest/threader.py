"""Which conversation a message belongs to (see `_Threader`), and the subject rules."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from comptoir.connectors.base import InboundMessage
from comptoir.inbox import fastsql, merge
from comptoir.inbox.ingest.base import _Pending
from comptoir.inbox.ingest.sql import _any_of, _table
from comptoir.inbox.models import (
    Conversation,
    Event,
    EventKind,
    Message,
    ThreadRef,
)


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
