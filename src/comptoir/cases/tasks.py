"""Claims a connector stored become cases, in a task after ingest (never on the poll's path)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.db.models import Q
from django.tasks import task

from comptoir.cases import claims
from comptoir.cases.actions import open_or_update_claim
from comptoir.inbox.models import Message
from comptoir.jobs.periodic import periodic

if TYPE_CHECKING:
    from comptoir.inbox.ingest.base import Stored

BATCH = 200
ATOZ_SUBJECT = r"a-?to-?z|a (à|a) z|a-bis-z"


def queue_claims(stored: list[Stored]) -> None:
    """Subscribed to `inbox.hooks.messages_stored` (after commit): one query tells whether any
    of the messages may be a claim (a marketplace reason, or a conversation the connector
    tagged "claim"); only then a task is queued."""
    ids = sorted({s.message_id for s in stored})
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        maybe = sorted(
            set(
                Message.objects.filter(pk__in=chunk)
                .filter(
                    ~Q(marketplace_reason="")
                    | Q(conversation__tags__name="claim")
                    # Amazon's A-to-z mail (`cases.atoz`) comes with neither.
                    | Q(channel__kind="email", subject__iregex=ATOZ_SUBJECT)
                )
                .values_list("pk", flat=True)
            )
        )
        if maybe:
            sync_claims.enqueue(maybe)


@task()
def sync_claims(message_ids: list[int]) -> int:
    """Open or update the case of each claim these messages belong to, oldest message first.
    Returns how many cases were opened (a second run opens none)."""
    opened = 0
    messages = (
        Message.objects.filter(pk__in=message_ids)
        .select_related("inbound_record", "conversation", "channel")
        .order_by("received_at", "pk")
    )
    for message in messages:
        claim = claims.claim_of(message, claims.meta_of(message))
        if claim is None:
            continue
        via = f"connector:{message.channel.kind}"
        _case, new = open_or_update_claim(message.conversation, claim, via=via)
        opened += new
    return opened


@periodic("cases.deadline_warnings", every=timedelta(minutes=15))
@task()
def deadline_warnings() -> int:
    """Notify who must act on the cases whose marketplace deadline comes near (once each)."""
    from comptoir.cases.deadlines import warn

    return warn()
