"""Background work of the SLA app: the sweep every minute, and telling a marketplace that a
buyer message needs no response (where its API allows)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.tasks import task

from comptoir.connectors.base import ConnectorError
from comptoir.connectors.registry import CONNECTORS, connector_class, get_connector
from comptoir.jobs.periodic import periodic
from comptoir.sla.sweep import sweep

logger = logging.getLogger("comptoir.sla")


@periodic("sla.sweep", every=timedelta(minutes=1))
@task()
def sweep_deadlines() -> dict[str, int]:
    result = sweep()
    return {"at_risk": len(result.at_risk), "breached": len(result.breached)}


def sync_no_response_needed(conversation_id: int, channel_id: int) -> bool:
    """Queue the marketplace call when the channel's connector can make it (after commit of
    `inbox.actions.mark_no_response_needed`). Returns whether it was queued."""
    from comptoir.inbox.models import Channel

    kind = Channel.objects.filter(pk=channel_id).values_list("kind", flat=True).first()
    if kind not in CONNECTORS or not connector_class(kind).can_mark_no_response_needed():
        return False
    push_no_response_needed.enqueue(conversation_id)
    return True


@task()
def push_no_response_needed(conversation_id: int) -> str:
    from comptoir.inbox.models import Conversation

    conv = Conversation.objects.select_related("channel").get(pk=conversation_id)
    if not conv.external_thread_id:
        return "no thread on the marketplace"
    try:
        get_connector(conv.channel).mark_no_response_needed(conv.external_thread_id)
    except ConnectorError as exc:
        # Comptoir's own deadline is already cleared; the marketplace keeps counting it, and
        # the agent sees why in the log. Not retried: the button is a courtesy, not a send.
        logger.warning("marking conversation %s as needing no response: %s", conversation_id, exc)
        return f"failed: {exc}"
    return "ok"
