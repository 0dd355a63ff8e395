"""What a conversation becomes when it absorbs another (an agent's merge, or ingest finding
that two conversations are one thread): computed in memory from both rows, no query.

The caller moves the messages, events and tags, and saves both rows.
"""

from __future__ import annotations

from datetime import datetime
from math import inf

from comptoir.inbox.deadlines import clear_deadline, copy_deadline, reopen
from comptoir.inbox.models import Conversation, Status

# The more active status wins: an open question in either stays open.
_STATUS_RANK: dict[str, int] = {
    Status.OPEN: 3,
    Status.PENDING: 2,
    Status.SNOOZED: 1,
    Status.RESOLVED: 0,
}


def survivor(convs: list[Conversation]) -> Conversation:
    """The conversation that keeps a thread found to be several: the one holding its oldest
    message (`created_at` follows the oldest message), so that the choice does not depend on
    the order the messages arrived in; a saved one before a new one, then the lowest id."""
    return min(
        convs,
        key=lambda c: (c.created_at, c.pk is None, c.pk or 0),
    )


def absorb(dst: Conversation, src: Conversation) -> bool:
    """Fold `src` into `dst`; `src` is left an empty pointer to `dst` (its `merged_into` is set
    when `dst` has an id). Returns True when `dst` was resolved and is open again."""
    last_out = _latest(dst.last_outbound_at, src.last_outbound_at)
    first_in = _earliest(dst.first_inbound_at, src.first_inbound_at)
    # A question still waits unless the merged timeline holds a later answer to it.
    waiting = [
        c
        for c in (dst, src)
        if c.needs_reply and not (last_out and c.last_inbound_at and last_out > c.last_inbound_at)
    ]
    if waiting:
        first = min(waiting, key=lambda c: c.respond_by.timestamp() if c.respond_by else inf)
        copy_deadline(dst, first)
    else:
        clear_deadline(dst)
    responses = [dst.first_response_at, src.first_response_at]
    for c in (dst, src):
        # Outbound messages with no buyer message before them in their own conversation may
        # answer the other's (their first one is not known here: the latest stands in).
        if c.first_response_at is None and c.last_outbound_at and first_in:
            responses.append(c.last_outbound_at if c.last_outbound_at >= first_in else None)
    dst.first_response_at = _earliest(*responses)
    dst.first_inbound_at = first_in
    dst.last_inbound_at = _latest(dst.last_inbound_at, src.last_inbound_at)
    dst.last_outbound_at = last_out
    if src.last_message_at and (
        dst.last_message_at is None or src.last_message_at > dst.last_message_at
    ):
        dst.snippet = src.snippet
    dst.last_message_at = _latest(dst.last_message_at, src.last_message_at)
    dst.created_at = min(dst.created_at, src.created_at)
    dst.message_count += src.message_count
    dst.reopened_count = max(dst.reopened_count, src.reopened_count)
    dst.subject = dst.subject or src.subject
    if not dst.language:
        dst.language, dst.language_by_triage = src.language, src.language_by_triage
    dst.order_number = dst.order_number or src.order_number
    dst.order_id = dst.order_id or src.order_id
    dst.customer_id = dst.customer_id or src.customer_id
    if dst.assignee_id is None and src.assignee_id is not None:
        # Whoever already handles part of the thread keeps it, in their team.
        dst.assignee_id, dst.team_id = src.assignee_id, src.team_id
    dst.team_id = dst.team_id or src.team_id
    dst.priority = max(dst.priority, src.priority)
    dst.archived = dst.archived and src.archived
    reopened = False
    if _STATUS_RANK.get(src.status, 0) > _STATUS_RANK.get(dst.status, 0):
        reopened = dst.status == Status.RESOLVED
        dst.status, dst.snoozed_until = src.status, src.snoozed_until
    if dst.needs_reply and dst.status == Status.RESOLVED:
        reopened, dst.status = True, Status.OPEN
    if reopened:
        reopen(dst)
    src.merged_into_id = dst.pk
    src.message_count = 0
    clear_deadline(src)
    return reopened


def _latest(*values: datetime | None) -> datetime | None:
    return max(filter(None, values), default=None)


def _earliest(*values: datetime | None) -> datetime | None:
    return min(filter(None, values), default=None)
