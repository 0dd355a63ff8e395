"""A conversation's deadline and its resolved state: whether an answer is owed and by when, and
what resolving and reopening change. Ingest, the actions and merges set these fields here only,
in memory; the caller saves the row.
"""

from __future__ import annotations

from datetime import datetime

from comptoir.inbox.models import Conversation, SLAState, Status


def clear_deadline(conv: Conversation) -> None:
    """No answer is owed."""
    conv.needs_reply, conv.respond_by = False, None
    conv.sla_state, conv.sla_at_risk_at = SLAState.NONE, None


def set_deadline(conv: Conversation, respond_by: datetime, at_risk: datetime) -> None:
    """An answer is owed by `respond_by` (at risk from `at_risk`), replacing any deadline."""
    conv.needs_reply, conv.sla_state = True, SLAState.OK
    conv.respond_by, conv.sla_at_risk_at = respond_by, at_risk


def keep_earliest_deadline(conv: Conversation, respond_by: datetime, at_risk: datetime) -> None:
    """Another buyer message waits for an answer by `respond_by`: the oldest unanswered message
    sets the deadline (the one the marketplace counts late first), so a follow-up never pushes
    it back and an older one brought in late may bring it forward (its SLA state unchanged)."""
    if not conv.needs_reply or conv.respond_by is None:
        set_deadline(conv, respond_by, at_risk)
    elif respond_by < conv.respond_by:
        conv.respond_by, conv.sla_at_risk_at = respond_by, at_risk


def copy_deadline(conv: Conversation, source: Conversation) -> None:
    """`conv` owes the answer `source` owes, with its deadline and SLA state (a merge)."""
    conv.needs_reply, conv.respond_by = True, source.respond_by
    conv.sla_state, conv.sla_at_risk_at = source.sla_state, source.sla_at_risk_at


def reopen(conv: Conversation) -> None:
    """A resolved conversation is reopened (its new status is the caller's)."""
    conv.resolved_at = None
    conv.reopened_count += 1


def change_status(
    conv: Conversation, status: str, now: datetime, snoozed_until: datetime | None = None
) -> str:
    """Set the status (a known one) and what goes with it; returns the previous status.
    Resolving says no answer is owed (a "thank you" needs none)."""
    previous = conv.status
    conv.status = status
    conv.snoozed_until = snoozed_until if status == Status.SNOOZED else None
    if status == Status.RESOLVED:
        conv.resolved_at = now
        clear_deadline(conv)
    elif previous == Status.RESOLVED:
        reopen(conv)
    return previous
