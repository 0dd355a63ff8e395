"""The facts of conversations, computed from the raw rows (messages, events, the conversation).

What counts (docs/metrics.md gives each KPI built on them):
- a *buyer message* is an inbound message that is not automatic (`is_auto`: an out-of-office,
  a marketplace robot's notice);
- a *reply* is an outbound message that is not automatic (`is_auto` marks the rules'
  auto-replies, sent with no author from a template) and was not given up (failed, replaced).
  An agent's reply (author set), one sent from a template by an agent, and one the seller wrote
  on the marketplace's own site (fetched back, no author) all count. Notes never do;
- a *wait* opens at a buyer message when no wait is open, and the next reply closes it: its
  length is the response time (the first wait: first response time; the others: next
  response time), in calendar seconds and in the channel's business hours.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from comptoir.analytics import rollup
from comptoir.analytics.models import (
    BuyerMessageFact,
    ConversationFact,
    FactSweep,
    ResponseFact,
)
from comptoir.inbox.models import (
    Conversation,
    DeliveryState,
    Direction,
    Event,
    EventKind,
    Message,
    Status,
)
from comptoir.lib import businesstime
from comptoir.sla.policies import Policy, policies_for

BATCH = 500
FCR_REOPEN_WINDOW = timedelta(days=7)

BUYER_MESSAGE = Q(direction=Direction.IN, is_auto=False)
REPLY = Q(direction=Direction.OUT, is_auto=False) & ~Q(
    delivery_state__in=[DeliveryState.FAILED, DeliveryState.REPLACED]
)
EVENT_KINDS = [
    EventKind.REOPENED,
    EventKind.NO_RESPONSE_NEEDED,
    EventKind.STATUS_CHANGED,
    EventKind.REPLIED,  # a reply that resolves carries the status change in its data
]


@dataclass
class Wait:
    received_at: datetime
    answered_at: datetime | None = None


@dataclass
class History:
    """What the facts need of one conversation's rows, oldest first."""

    messages: list[tuple[str, datetime]] = field(default_factory=list)  # ("in"|"out", at)
    buyer: list[tuple[int, int, datetime]] = field(default_factory=list)  # (pk, channel, at)
    marks: list[datetime] = field(default_factory=list)  # marked "no response needed"
    reopened_at: list[datetime] = field(default_factory=list)
    resolved_events: list[datetime] = field(default_factory=list)
    no_response_needed: bool = False


def refresh(
    conversation_ids: Iterable[int],
    now: datetime | None = None,
    *,
    keep_rollup: bool = True,
    rollup_now: bool = True,
) -> int:
    """Rewrite the facts of these conversations from their raw rows and mark the daily
    rollup's slices they touch dirty; returns how many facts were written (a deleted or merged
    conversation keeps none). With `rollup_now`, the dirty slices are recomputed at the end,
    once each; without, they wait for the worker's next `rollup.refresh_dirty`."""
    now = now or timezone.now()
    ids = sorted(set(conversation_ids))
    written = 0
    for start in range(0, len(ids), BATCH):
        written += _refresh_batch(ids[start : start + BATCH], now, keep_rollup)
    if keep_rollup and rollup_now:
        rollup.refresh_dirty()
    return written


def stale() -> tuple[list[int], list[FactSweep]]:
    """Conversations with a message or an event written, since the last sweep, after their
    facts were computed (or with none): their refresh was lost, a worker stopped between the
    commit and the task (see jobs/gathering). With the marks to save once they are refreshed.

    Each table is read past the highest key the last sweep checked: the rows written since,
    found by their primary key. A first sweep only sets the marks (a rebuild covers the
    past)."""
    ids: set[int] = set()
    marks: list[FactSweep] = []
    fact_at = ConversationFact.objects.filter(conversation_id=OuterRef("conversation_id"))
    for source, model in (("message", Message), ("event", Event)):
        top = model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        mark = FactSweep.objects.filter(source=source).first()
        if mark is not None and top > mark.checked_to:
            rows = model.objects.filter(
                pk__gt=mark.checked_to, pk__lte=top, conversation_id__isnull=False
            )
            rows = rows.annotate(fact_at=Subquery(fact_at.values("computed_at")[:1]))
            late = rows.filter(Q(fact_at=None) | Q(fact_at__lt=F("created_at")))
            ids.update(late.values_list("conversation_id", flat=True).distinct())
        if mark is None or top > mark.checked_to:
            marks.append(FactSweep(source=source, checked_to=top))
    return sorted(ids), marks


def rebuild(now: datetime | None = None) -> int:
    """All facts, recomputed exactly, then the daily rollup from them."""
    now = now or timezone.now()
    ConversationFact.objects.all().delete()
    ResponseFact.objects.all().delete()
    BuyerMessageFact.objects.all().delete()
    ids = Conversation.objects.order_by("pk").values_list("pk", flat=True)
    written = refresh(list(ids), now, keep_rollup=False)
    rollup.rebuild()
    return written


def _compute(
    ids: list[int], now: datetime
) -> tuple[list[ConversationFact], list[ResponseFact], list[BuyerMessageFact]]:
    convs = list(
        Conversation.objects.filter(pk__in=ids, deleted_at=None, merged_into=None).select_related(
            "channel", "shop"
        )
    )
    # Every conversation's history: a deleted one keeps no facts of its own, but its buyer
    # messages still count in the marketplaces' late-response rates (as the marketplace counts).
    histories = _histories(ids)
    policies = policies_for({c.channel_id for c in convs})
    facts: list[ConversationFact] = []
    waits: list[ResponseFact] = []
    for conv in convs:
        fact, conv_waits = conversation_fact(
            conv, histories[conv.pk], policies[conv.channel_id], now
        )
        facts.append(fact)
        waits.extend(conv_waits)
    asked = [row for pk in ids for row in buyer_message_facts(pk, histories[pk])]
    return facts, waits, asked


def _refresh_batch(ids: list[int], now: datetime, keep_rollup: bool) -> int:
    with transaction.atomic():
        # Two workers refreshing the same conversation at once: without the lock both deleted,
        # then both inserted (a duplicate key, or every wait counted twice), or the one that
        # read first wrote last (stale facts). The conversations' rows are locked before they
        # are read, in one order, so that two batches wait rather than deadlock.
        list(
            Conversation.objects.select_for_update().filter(pk__in=ids).order_by("pk").values("pk")
        )
        facts, waits, asked = _compute(ids, now)
        before = rollup.slices_of(ids) if keep_rollup else {}
        ConversationFact.objects.filter(conversation_id__in=ids).delete()
        ResponseFact.objects.filter(conversation_id__in=ids).delete()
        BuyerMessageFact.objects.filter(conversation_id__in=ids).delete()
        ConversationFact.objects.bulk_create(facts)
        ResponseFact.objects.bulk_create(waits)
        BuyerMessageFact.objects.bulk_create(asked)
        if keep_rollup:
            # The days these conversations lay in before and lie in now (a deleted one leaves
            # its old days, an edited one can move a wait to another day).
            rollup.mark_dirty(rollup.merge(before, rollup.slices_of(ids)))
    return len(facts)


def _histories(ids: list[int]) -> dict[int, History]:
    histories: dict[int, History] = defaultdict(History)
    messages = (
        Message.objects.filter(Q(conversation_id__in=ids) & (BUYER_MESSAGE | REPLY))
        .order_by("conversation_id", "created_at", "pk")
        .values_list("conversation_id", "direction", "created_at", "pk", "channel_id")
    )
    for conv_id, direction, at, pk, channel_id in messages:
        histories[conv_id].messages.append((direction, at))
        if direction == Direction.IN:
            histories[conv_id].buyer.append((pk, channel_id, at))
    events = (
        Event.objects.filter(conversation_id__in=ids, kind__in=EVENT_KINDS)
        .order_by("conversation_id", "created_at", "pk")
        .values_list("conversation_id", "kind", "created_at", "data")
    )
    for conv_id, kind, at, data in events:
        history = histories[conv_id]
        if kind == EventKind.REOPENED:
            history.reopened_at.append(at)
        elif kind == EventKind.NO_RESPONSE_NEEDED:
            history.no_response_needed = True
            history.marks.append(at)
        elif isinstance(data, dict) and data.get("status") == Status.RESOLVED:
            history.resolved_events.append(at)
    return histories


def waits_of(messages: list[tuple[str, datetime]]) -> list[Wait]:
    """The waits of a conversation: each opened by a buyer message when none is open, closed by
    the next reply (a reply with no wait open, a seller writing first, closes nothing)."""
    waits: list[Wait] = []
    current: Wait | None = None
    for direction, at in messages:
        if direction == Direction.IN and current is None:
            current = Wait(at)
            waits.append(current)
        elif direction == Direction.OUT and current is not None:
            current.answered_at = at
            current = None
    return waits


def buyer_message_facts(conversation_id: int, history: History) -> list[BuyerMessageFact]:
    """Each buyer message with the first reply and the first "no response needed" mark at or
    after it (the same instant counts, as in `sla.metrics`)."""
    replies = [at for direction, at in history.messages if direction == Direction.OUT]
    marks = sorted(history.marks)

    def first_at_or_after(times: list[datetime], at: datetime) -> datetime | None:
        i = bisect_left(times, at)
        return times[i] if i < len(times) else None

    return [
        BuyerMessageFact(
            message_id=pk,
            conversation_id=conversation_id,
            channel_id=channel_id,
            received_at=at,
            answered_at=first_at_or_after(replies, at),
            marked_at=first_at_or_after(marks, at),
        )
        for pk, channel_id, at in history.buyer
    ]


def conversation_fact(
    conv: Conversation, history: History, policy: Policy, now: datetime
) -> tuple[ConversationFact, list[ResponseFact]]:
    """The fact of one conversation and its waits."""
    waits = waits_of(history.messages)
    replies = [at for direction, at in history.messages if direction == Direction.OUT]
    first_in = next((at for d, at in history.messages if d == Direction.IN), None)
    first = waits[0] if waits else None
    local = timezone.localtime(conv.created_at, ZoneInfo(conv.shop.timezone))
    resolved_at = conv.resolved_at if conv.status == Status.RESOLVED else None
    start = first_in or conv.created_at
    fact = ConversationFact(
        conversation_id=conv.pk,
        shop_id=conv.shop_id,
        channel_id=conv.channel_id,
        marketplace=conv.channel.marketplace,
        team_id=conv.team_id,
        assignee_id=conv.assignee_id,
        intent=conv.intent,
        language=conv.language,
        created_at=conv.created_at,
        created_day=local.date(),
        local_hour=local.hour,
        local_weekday=local.weekday(),
        first_inbound_at=first_in,
        first_response_at=first.answered_at if first else None,
        first_response_seconds=_seconds(first, None),
        first_response_business_seconds=_seconds(first, policy.calendar),
        resolved_at=resolved_at,
        resolution_seconds=(resolved_at - start).total_seconds() if resolved_at else None,
        agent_replies=len(replies),
        reopened=bool(history.reopened_at) or conv.reopened_count > 0,
        fcr=_fcr(conv, history, replies),
        no_response_needed=history.no_response_needed,
        within_sla=_within_sla(first, policy, history.no_response_needed, now),
        message_count=conv.message_count,
        computed_at=now,
    )
    rows = [
        ResponseFact(
            conversation_id=conv.pk,
            shop_id=conv.shop_id,
            channel_id=conv.channel_id,
            marketplace=conv.channel.marketplace,
            team_id=conv.team_id,
            assignee_id=conv.assignee_id,
            first=i == 0,
            received_at=wait.received_at,
            answered_at=wait.answered_at,
            seconds=_seconds(wait, None),
            business_seconds=_seconds(wait, policy.calendar),
        )
        for i, wait in enumerate(waits)
    ]
    return fact, rows


def _seconds(wait: Wait | None, calendar: businesstime.Calendar | None) -> float | None:
    if wait is None or wait.answered_at is None:
        return None
    if calendar is None:
        return (wait.answered_at - wait.received_at).total_seconds()
    return businesstime.elapsed(calendar, wait.received_at, wait.answered_at).total_seconds()


def _fcr(conv: Conversation, history: History, replies: list[datetime]) -> bool:
    """Resolved after exactly one reply, and not reopened within 7 days of that resolution."""
    resolutions = list(history.resolved_events)
    if conv.resolved_at is not None:
        resolutions.append(conv.resolved_at)
    if not resolutions:
        return False
    resolved = min(resolutions)
    if sum(1 for at in replies if at <= resolved) != 1:
        return False
    return not any(resolved < at <= resolved + FCR_REOPEN_WINDOW for at in history.reopened_at)


def _within_sla(
    first: Wait | None, policy: Policy, no_response_needed: bool, now: datetime
) -> bool | None:
    """Was the first buyer message answered by the channel's respond-by? None while it may
    still be (or when it was marked as needing no answer, or there was no buyer message)."""
    if first is None:
        return None
    deadline = policy.respond_by(first.received_at, first=True)
    if first.answered_at is not None:
        return first.answered_at <= deadline
    if no_response_needed or now <= deadline:
        return None
    return False


def fact_values(fact: ConversationFact) -> dict[str, Any]:
    """A fact as a plain dict (without when it was computed): to compare two computations."""
    return {
        f.attname: getattr(fact, f.attname)
        for f in ConversationFact._meta.concrete_fields
        if f.attname != "computed_at"
    }
