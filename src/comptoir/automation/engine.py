"""The rules engine: rules consume the event log.

Almost every trigger is an `inbox.models.Event` (a message received, a status changed, an SLA
warning, an order shipped...). The pump reads the events after its cursor in batches, matches
each against the active rules in their order and runs each rule at most once per event: a
`RuleRun(rule, event)` row, unique, is written in the same transaction as the rule's actions, so
two workers racing on the same batch (or a pump run twice) act once. It is kicked after ingest
and after actions (once their transaction commits), and by a periodic safety run.

No loops: an event a rule caused (`actor_label` "rule:<id>") never triggers a rule, this one or
another. Rules still see the buyer's answer to an auto-reply, which is a new message.

The time-based trigger (no reply from the buyer for N days) is a periodic, set-based query; a
`RuleRun(rule, conversation, anchor_at=our last message)` makes it once per silence.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext

from comptoir.automation import conditions, effects
from comptoir.automation.models import Rule, RulePump, RuleRun, RunOutcome, Trigger
from comptoir.inbox import fastsql
from comptoir.inbox.models import Conversation, Direction, Event, EventKind, Message, Status
from comptoir.jobs import gathering, leases

logger = logging.getLogger("comptoir.automation")

PUMP = "rules"
LEASE = "automation.rules_pump"
LEASE_TTL = timedelta(minutes=5)
BATCH = 500
# An event id missing from the log this long is a rolled-back transaction, not a late commit.
SETTLE = timedelta(minutes=5)
# A rule on "message received" that tests what triage reads (intent, urgency...) waits this long
# for the reading; after that it runs on what is there (triage stopped must not stop the rules).
TRIAGE_WAIT = timedelta(minutes=2)
EVENT_TRIGGERS = frozenset(Trigger.values) - {Trigger.BUYER_SILENT}
# The event kinds each trigger answers to (a reopening is a change of status too).
TRIGGER_KINDS: dict[str, tuple[str, ...]] = {
    Trigger.STATUS_CHANGED: (EventKind.STATUS_CHANGED, EventKind.REOPENED, EventKind.SNOOZED),
}
KIND_TRIGGER = {
    kind: trigger for trigger in EVENT_TRIGGERS for kind in TRIGGER_KINDS.get(trigger, (trigger,))
}


def is_rule_label(label: str) -> bool:
    """Events no rule acts on: what a rule did (no loops), and imported history (the past is
    loaded, not lived: no auto-reply to a year-old message)."""
    return label.startswith(("rule:", "history"))


# -- compiled rules ----------------------------------------------------------------------------


@dataclass
class Compiled:
    rule: Rule
    conditions: conditions.Group
    actions: list[Any]

    @property
    def stops(self) -> bool:
        return self.rule.stop_processing or any(
            isinstance(a, effects.StopAction) for a in self.actions
        )


def compile_rule(rule: Rule) -> Compiled:
    return Compiled(
        rule, conditions.parse(rule.conditions, stored=True), effects.parse(rule.actions)
    )


def active_rules(triggers: Iterable[str]) -> list[Compiled]:
    compiled = []
    for rule in Rule.objects.filter(is_active=True, trigger__in=list(triggers)).order_by(
        "position", "id"
    ):
        try:
            compiled.append(compile_rule(rule))
        except (conditions.ConditionError, effects.EffectError) as exc:
            # Saved through automation.rules it was valid; a later schema change is logged.
            logger.error("rule %s is invalid and skipped: %s", rule.pk, exc)
    return compiled


# -- running one rule --------------------------------------------------------------------------


def run_rule(
    compiled: Compiled,
    conv: Conversation,
    *,
    event: Event | None = None,
    anchor_at: datetime | None = None,
    message: Message | None = None,
    now: datetime | None = None,
) -> RuleRun | None:
    """Run a rule's actions once for this event (or silence); None when it had run already.

    Each action runs in a savepoint of its own: one that fails (a template missing a
    variable) is undone and logged, the others stay."""
    now = now or timezone.now()
    rule = compiled.rule
    with transaction.atomic():
        run = RuleRun(
            rule=rule,
            conversation=conv,
            event=event,
            anchor_at=anchor_at,
            outcome=RunOutcome.DONE,
            at=now,
        )
        # Refused by a unique index: this rule has run for this event already (another worker,
        # or before). ON CONFLICT rather than a savepoint: two statements fewer per run.
        fastsql.insert([run], ignore_conflicts=True)
        if run.pk is None:
            return None
        ctx = effects.Context(rule=rule, conversation=conv, event=event, message=message, now=now)
        detail: list[dict[str, str]] = []
        for action in compiled.actions:
            try:
                with transaction.atomic():
                    note = effects.run_action(action, ctx)
                detail.append({"type": action.type, "outcome": RunOutcome.DONE, "note": note})
            except effects.Skip as exc:
                skipped = {"type": action.type, "outcome": RunOutcome.SKIPPED, "note": str(exc)}
                detail.append(skipped)
            except (ValidationError, PermissionDenied, ObjectDoesNotExist) as exc:
                text = "; ".join(getattr(exc, "messages", None) or [str(exc)])
                detail.append({"type": action.type, "outcome": RunOutcome.FAILED, "note": text})
            except Exception as exc:  # a bug or the database: logged, the next action runs
                logger.exception("rule %s action %s failed", rule.pk, action.type)
                detail.append(
                    {"type": action.type, "outcome": RunOutcome.FAILED, "note": repr(exc)[:500]}
                )
        failed = [d for d in detail if d["outcome"] == RunOutcome.FAILED]
        if failed:
            run.outcome = RunOutcome.FAILED
            run.error = "; ".join(f"{d['type']}: {d['note']}" for d in failed)[:5000]
        elif detail and all(d["outcome"] == RunOutcome.SKIPPED for d in detail):
            run.outcome = RunOutcome.SKIPPED
        run.detail = detail
        fastsql.update([run], ["outcome", "error", "detail"])
        if run.outcome == RunOutcome.FAILED:
            _tell_rule_owner(run, conv, now)
    return run


# A rule that fails on every message would otherwise send one notification per message: its
# owner hears of the first failure each hour, and the rule's page lists every run.
RULE_FAILURE_NOTICE_EVERY = timedelta(hours=1)


def _tell_rule_owner(run: RuleRun, conv: Conversation, now: datetime) -> None:
    """A failed run reaches who answers for the rule: its creator, else the owners and admins
    (an automatic reply that could not be sent must not fail silently)."""
    from comptoir.accounts.models import Role, User
    from comptoir.notifications.actions import Kind, notify

    rule = run.rule
    earlier = RuleRun.objects.filter(
        rule=rule, outcome=RunOutcome.FAILED, at__gte=now - RULE_FAILURE_NOTICE_EVERY
    ).exclude(pk=run.pk)
    if earlier.exists():
        return
    active = User.objects.filter(is_active=True)
    users: list[int] = []
    if rule.created_by_id is not None:
        users = list(active.filter(pk=rule.created_by_id).values_list("pk", flat=True))
    if not users:  # made by the demo or the API's system, or its author left
        users = list(active.filter(role__in=[Role.OWNER, Role.ADMIN]).values_list("pk", flat=True))
    rule_name, error = rule.name, run.error

    def failed() -> str:  # written in each recipient's language
        text = gettext("Rule “%(rule)s” failed: %(error)s") % {"rule": rule_name, "error": error}
        return text[:2000]

    notify(Kind.RULE_FAILED, conversations=[conv.pk], users=users, text=failed, now=now)


# -- the pump ----------------------------------------------------------------------------------


def _load_conversations(ids: Iterable[int]) -> dict[int, Conversation]:
    convs = (
        Conversation.objects.filter(pk__in=set(ids), deleted_at__isnull=True)
        .filter(merged_into__isnull=True)
        .select_related("channel", "customer", "order", "assignee")
        .prefetch_related("tags")
    )
    return {c.pk: c for c in convs}


def _facts(
    conv: Conversation, message: Message | None, at: datetime, event: Event | None = None
) -> conditions.Facts:
    data = event.data if event is not None and isinstance(event.data, dict) else {}
    return conditions.Facts(conv, message, at, {t.name for t in conv.tags.all()}, data)


def _event_messages(events: list[Event]) -> dict[int, Message]:
    """The message behind each message_received event (ingest names it by external id)."""
    wanted = [
        e for e in events if e.kind == EventKind.MESSAGE_RECEIVED and e.data.get("external_id")
    ]
    if not wanted:
        return {}
    rows = Message.objects.filter(
        conversation_id__in={e.conversation_id for e in wanted},
        external_id__in={e.data["external_id"] for e in wanted},
        direction=Direction.IN,
    )
    by_key: dict[tuple[int, str], Message] = {(m.conversation_id, m.external_id): m for m in rows}
    found = {}
    for e in wanted:
        m = by_key.get((e.conversation_id or 0, e.data["external_id"]))
        if m is not None:
            found[e.pk] = m
    return found


def _latest_inbound(conv: Conversation) -> Message | None:
    return (
        Message.objects.filter(conversation_id=conv.pk, direction=Direction.IN)
        .order_by("-created_at", "-pk")
        .first()
    )


def handle_events(events: list[Event], rules: list[Compiled], now: datetime) -> int:
    """Match and run the rules for these events (in id order); returns the runs made."""
    runs = 0
    relevant = [
        e
        for e in events
        if e.conversation_id is not None
        and e.kind in KIND_TRIGGER
        and not is_rule_label(e.actor_label)
    ]
    if not relevant or not rules:
        return 0
    convs = _load_conversations(e.conversation_id for e in relevant if e.conversation_id)
    messages = _event_messages(relevant)
    for event in relevant:
        conv = convs.get(event.conversation_id or 0)
        if conv is None:
            continue
        candidates = [
            c
            for c in rules
            if c.rule.trigger == KIND_TRIGGER[event.kind]
            and event.pk > c.rule.since_event_id
            and (c.rule.shop_id is None or c.rule.shop_id == conv.shop_id)
        ]
        if not candidates:
            continue
        message = messages.get(event.pk)
        if message is None and event.kind != EventKind.MESSAGE_RECEIVED:
            message = _latest_inbound(conv)
        runs += _run_candidates(candidates, conv, event, message, now)
    return runs


def _run_candidates(
    candidates: list[Compiled],
    conv: Conversation,
    event: Event,
    message: Message | None,
    now: datetime,
) -> int:
    """Each rule in turn on one event; returns the runs made."""
    runs = 0
    facts: conditions.Facts | None = None
    stale = False
    for compiled in candidates:
        if stale and conditions.reads_conversation(compiled.conditions):
            # What the previous rule changed is what this one sees.
            conv, facts, stale = _load_conversations([conv.pk]).get(conv.pk) or conv, None, False
        facts = facts or _facts(conv, message, event.created_at, event)
        try:
            matched = conditions.matches(compiled.conditions, facts)
        except conditions.ConditionError as exc:
            logger.error("rule %s cannot be evaluated: %s", compiled.rule.pk, exc)
            continue
        if not matched:
            continue
        if stale:  # tested on the message alone: its actions get the conversation as it is
            conv, facts, stale = _load_conversations([conv.pk]).get(conv.pk) or conv, None, False
        run = run_rule(compiled, conv, event=event, message=message, now=now)
        if run is not None:
            runs += 1
            stale = True
        if compiled.stops:
            break
    return runs


@dataclass
class PumpResult:
    events: int = 0
    runs: int = 0
    position: int = 0
    busy: bool = False


# Each run commits on its own: what they queue after commit (analytics' refresh of the
# conversations they touched) is queued once, when the pump is done.
@gathering.gathering()
def pump(
    *, now: datetime | None = None, holder: str | None = None, batch: int = BATCH
) -> PumpResult:
    """Handle every event after the cursor; returns what it did. One worker pumps at a time
    (a lease); another that finds it held returns at once, and the holder, before letting go,
    looks again for events committed meanwhile."""
    holder = holder or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    result = PumpResult()
    while True:
        if not leases.hold(LEASE, holder, LEASE_TTL):
            result.busy = True
            return result
        try:
            while True:
                handled, runs, position, waiting = _pump_batch(now or timezone.now(), batch)
                result.events += handled
                result.runs += runs
                result.position = position
                if handled < batch or waiting:
                    break
                leases.hold(LEASE, holder, LEASE_TTL)
        finally:
            leases.release(LEASE, holder)
        # Waiting for triage is not work pending: its reading wakes the pump again.
        if waiting or not _pending():
            return result


def _state() -> RulePump:
    state, _ = RulePump.objects.get_or_create(name=PUMP)
    return state


def _pending() -> bool:
    state = _state()
    seen = set(state.seen)
    top = max(seen, default=state.position)
    if Event.objects.filter(pk__gt=top).exists():
        return True
    window = Event.objects.filter(pk__gt=state.position, pk__lte=top).values_list("pk", flat=True)
    return any(pk not in seen for pk in window)


def _pump_batch(now: datetime, batch: int) -> tuple[int, int, int, bool]:
    """(events read, rule runs, cursor, waiting for triage) of one batch."""
    state = _state()
    rules = active_rules(EVENT_TRIGGERS)
    if not rules:
        # Nothing to run: every event so far is done with (a rule switched on later starts
        # after its own `since_event_id` anyway).
        top = Event.objects.aggregate(top=Max("pk"))["top"] or 0
        if top > state.position or state.seen:
            RulePump.objects.filter(name=PUMP).update(
                position=max(top, state.position), seen=[], gap_since=None
            )
        return 0, 0, max(top, state.position), False
    # No rule acts on an event before it was switched on: start there.
    floor = min(c.rule.since_event_id for c in rules)
    position = max(state.position, floor)
    seen = {pk for pk in state.seen if pk > position}
    top = max(seen, default=position)
    fields = ("id", "conversation_id", "kind", "actor_label", "data", "created_at")
    # Events committed late, inside the window already read past, then the new ones.
    late = [
        e
        for e in Event.objects.filter(pk__gt=position, pk__lte=top).only(*fields).order_by("pk")
        if e.pk not in seen
    ]
    fresh = list(Event.objects.filter(pk__gt=top).only(*fields).order_by("pk")[:batch])
    read = _until_unread(fresh, rules, now)
    waiting, fresh = len(read) < len(fresh), read
    events = late + fresh
    if not events and not seen and position == state.position:
        return 0, 0, position, False  # nothing new: no write
    runs = handle_events(events, rules, now)
    seen.update(e.pk for e in events)
    position, seen, gap_since = _advance(position, seen, state.gap_since, state.gap_top, now)
    if gap_since is None:
        gap_top = 0
    elif gap_since == state.gap_since:
        gap_top = state.gap_top  # the same wait goes on: only the holes seen then are old
    else:
        gap_top = max(seen)  # a new wait: every hole below the top starts it now
    RulePump.objects.filter(name=PUMP).update(
        position=position, seen=sorted(seen), gap_since=gap_since, gap_top=gap_top
    )
    return len(fresh), runs, position, waiting


def _until_unread(events: list[Event], rules: list[Compiled], now: datetime) -> list[Event]:
    """The events before the first new buyer message triage has not read yet, when a rule on
    new messages tests what triage reads: the pump comes back when triage is done
    (`wake_for_reading`), or after `TRIAGE_WAIT`."""
    if not any(
        c.rule.trigger == Trigger.MESSAGE_RECEIVED and conditions.reads_triage(c.conditions)
        for c in rules
    ):
        return events
    received = [e for e in events if e.kind == EventKind.MESSAGE_RECEIVED]
    if not received:
        return events
    # Timed from when the message came in (its event is dated when the buyer sent it).
    unread = {
        pk
        for pk, m in _event_messages(received).items()
        if m.triaged_at is None and now - m.received_at < TRIAGE_WAIT
    }
    for i, event in enumerate(events):
        if event.pk in unread:
            return events[:i]
    return events


def _advance(
    position: int, seen: set[int], gap_since: datetime | None, gap_top: int, now: datetime
) -> tuple[int, set[int], datetime | None]:
    """Move the cursor over the ids handled without a hole before them. A hole (an id not in
    the log) is waited for SETTLE, then passed over: a transaction rolled back."""
    seen = set(seen)

    def walk(p: int) -> int:
        while p + 1 in seen:
            p += 1
            seen.discard(p)
        return p

    position = walk(position)
    if not seen:
        return position, seen, None
    if gap_since is None:
        return position, seen, now
    if now - gap_since >= SETTLE:
        # Every id up to gap_top that is still missing has been missing since gap_since.
        below = [pk for pk in seen if pk <= gap_top]
        if below or gap_top > position:
            position = max(gap_top, position)
            seen -= set(below)
            position = walk(position)
        if not seen:
            return position, seen, None
        return position, seen, now
    return position, seen, gap_since


# -- kicking the pump --------------------------------------------------------------------------

RULES_CACHE_SECONDS = 30.0
_has_rules: list[float | bool] = [0.0, False]


def _any_active_rule() -> bool:
    now = time.monotonic()
    if float(_has_rules[0]) > now:
        return bool(_has_rules[1])
    found = Rule.objects.filter(is_active=True, trigger__in=list(EVENT_TRIGGERS)).exists()
    _has_rules[0], _has_rules[1] = now + RULES_CACHE_SECONDS, found
    return found


@receiver([post_save, post_delete], sender=Rule)
def _forget_rules(sender: type[Rule], **kwargs: Any) -> None:
    _has_rules[0] = 0.0


def _enqueue_pump() -> None:
    from comptoir.automation.tasks import pump_rules

    try:
        pump_rules.enqueue()
    except Exception:  # the periodic run catches up; a kick must never undo its caller's work
        logger.exception("could not queue the rules pump")


def kick() -> None:
    """Run the pump once the current transaction commits (once per transaction)."""
    if not _any_active_rule():
        return
    if connection.in_atomic_block and any(
        func is _enqueue_pump for _, func, *_ in connection.run_on_commit
    ):
        return
    transaction.on_commit(_enqueue_pump)


def wake_for_events(events: Sequence[Event]) -> None:
    """Subscribed to `inbox.hooks.events_written`: events the rules act on (and that no rule
    wrote) wake the pump once their transaction commits."""
    if any(e.kind in KIND_TRIGGER and not is_rule_label(e.actor_label) for e in events):
        kick()


def wake_for_reading(message_ids: list[int]) -> None:
    """Subscribed to `triage.hooks.messages_read`: the rules waiting for triage go on."""
    kick()


def wake_for_messages(stored: list[Any]) -> None:
    """Subscribed to `inbox.hooks.messages_stored`: new messages wake the pump."""
    kick()


# -- time-based: the buyer's silence -----------------------------------------------------------


def silent_candidates(rule: Rule, now: datetime, *, only_due: bool = True) -> Any:
    """Open or pending conversations where our message has had no answer for `silent_days`
    (and, `only_due`, this rule has not run for that silence yet); set-based."""
    days = timedelta(days=rule.silent_days or 0)
    qs = Conversation.objects.filter(
        status__in=[Status.OPEN, Status.PENDING],
        deleted_at__isnull=True,
        merged_into__isnull=True,
        last_outbound_at__lte=now - days,
        # A silence that began before the rule was switched on is not its business.
        last_outbound_at__gte=rule.active_since - days,
    ).filter(Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=F("last_outbound_at")))
    if only_due:
        qs = qs.exclude(
            Exists(
                RuleRun.objects.filter(
                    rule=rule, conversation=OuterRef("pk"), anchor_at=OuterRef("last_outbound_at")
                )
            )
        )
    if rule.shop_id is not None:
        qs = qs.filter(shop_id=rule.shop_id)
    return qs


def run_silent_rules(now: datetime | None = None, *, limit: int = 5000) -> int:
    """Run the time-based rules, in order, on the conversations whose silence is due."""
    now = now or timezone.now()
    rules = active_rules([Trigger.BUYER_SILENT])
    runs = 0
    stopped: set[int] = set()  # conversations a stopping rule has handled in this pass
    for compiled in rules:
        ids = list(
            silent_candidates(compiled.rule, now)
            .exclude(pk__in=stopped)
            .order_by("last_outbound_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        for start in range(0, len(ids), BATCH):
            convs = _load_conversations(ids[start : start + BATCH])
            for conv in convs.values():
                facts = _facts(conv, _latest_inbound(conv), now)
                if not conditions.matches(compiled.conditions, facts):
                    continue
                anchor = conv.last_outbound_at
                if run_rule(compiled, conv, anchor_at=anchor, now=now) is not None:
                    runs += 1
                if compiled.stops:
                    stopped.add(conv.pk)
    return runs


# -- the run log -------------------------------------------------------------------------------

RUNS_KEPT = timedelta(days=90)


def purge_runs(now: datetime | None = None) -> int:
    """Forget event runs older than RUNS_KEPT: the pump never goes back that far, so their
    once-only guard is no longer needed. Silence runs stay (they guard a silence that may last)."""
    cutoff = (now or timezone.now()) - RUNS_KEPT
    ids = list(
        RuleRun.objects.filter(event__isnull=False, at__lt=cutoff).values_list("pk", flat=True)[
            :10_000
        ]
    )
    if ids:
        RuleRun.objects.filter(pk__in=ids).delete()
    return len(ids)
