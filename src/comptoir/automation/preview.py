"""What a rule would have matched lately (the rule form's and the API's dry run): it reads only,
writes nothing and runs no action, and the rule need not be saved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from comptoir.automation import conditions
from comptoir.automation.engine import (
    TRIGGER_KINDS,
    Compiled,
    _event_messages,
    _facts,
    _latest_inbound,
    _load_conversations,
    compile_rule,
    silent_candidates,
)
from comptoir.automation.models import Rule, Trigger
from comptoir.inbox.models import Conversation, Event, EventKind


@dataclass
class DryMatch:
    conversation: Conversation
    at: datetime
    event_id: int | None


def dry_run(
    rule: Rule, *, now: datetime | None = None, days: int = 7, limit: int = 50, scan: int = 2000
) -> list[DryMatch]:
    """The recent conversations `rule` would have matched, newest first."""
    now = now or timezone.now()
    if rule.trigger == Trigger.BUYER_SILENT:
        return _silent_matches(rule, now, days=days, limit=limit, scan=scan)
    return _event_matches(rule, now, days=days, limit=limit, scan=scan)


def _silent_matches(
    rule: Rule, now: datetime, *, days: int, limit: int, scan: int
) -> list[DryMatch]:
    """A silence rule: the conversations whose buyer has been quiet long enough."""
    compiled = compile_rule(rule)
    probe = Rule(
        trigger=rule.trigger,
        silent_days=rule.silent_days,
        shop_id=rule.shop_id,
        active_since=now - timedelta(days=days),
    )
    qs = silent_candidates(probe, now, only_due=False)
    ids = list(qs.order_by("-last_outbound_at").values_list("pk", flat=True)[:scan])
    convs = _load_conversations(ids)
    found: list[DryMatch] = []
    for pk in ids:
        conv = convs.get(pk)
        if conv is None:
            continue
        if conditions.matches(compiled.conditions, _facts(conv, _latest_inbound(conv), now)):
            assert conv.last_outbound_at is not None
            found.append(DryMatch(conv, conv.last_outbound_at, None))
            if len(found) >= limit:
                break
    return found


def _event_matches(
    rule: Rule, now: datetime, *, days: int, limit: int, scan: int
) -> list[DryMatch]:
    """An event rule: the recent events of its trigger (not the rules' own), one match per
    conversation."""
    compiled: Compiled = compile_rule(rule)
    kinds = TRIGGER_KINDS.get(rule.trigger, (rule.trigger,))
    events = list(
        Event.objects.filter(
            kind__in=kinds, created_at__gte=now - timedelta(days=days), conversation__isnull=False
        )
        .exclude(actor_label__startswith="rule:")
        .order_by("-pk")[:scan]
    )
    convs = _load_conversations(e.conversation_id for e in events if e.conversation_id)
    messages = _event_messages(events)
    seen: set[int] = set()
    found: list[DryMatch] = []
    for event in events:
        conv = convs.get(event.conversation_id or 0)
        if conv is None or conv.pk in seen:
            continue
        if rule.shop_id is not None and conv.shop_id != rule.shop_id:
            continue
        message = messages.get(event.pk)
        if message is None and event.kind != EventKind.MESSAGE_RECEIVED:
            message = _latest_inbound(conv)
        if conditions.matches(compiled.conditions, _facts(conv, message, event.created_at, event)):
            seen.add(conv.pk)
            found.append(DryMatch(conv, event.created_at, event.pk))
            if len(found) >= limit:
                break
    return found
