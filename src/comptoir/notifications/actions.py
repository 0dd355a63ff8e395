"""Telling people: the one entry point the SLA sweep, the rules and the inbox actions call.

Delivery (email, webhooks, digests, per-user preferences) is this app's business; callers only
say what happened and about what.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import models

log = logging.getLogger(__name__)


class Kind(models.TextChoices):
    SLA_AT_RISK = "sla_at_risk", "SLA at risk"
    SLA_BREACHED = "sla_breached", "SLA breached"
    ASSIGNED = "assigned", "Assigned to me"
    CHANNEL_UNHEALTHY = "channel_unhealthy", "Channel stopped"
    MENTIONED = "mentioned", "Mentioned in a note"
    RULE = "rule", "Rule notification"


def notify(
    kind: str,
    *,
    conversations: Sequence[int] = (),
    users: Sequence[int] = (),
    channel_id: int | None = None,
    actor_id: int | None = None,
    text: str = "",
) -> None:
    """Queue the notification of `kind` about these conversations (ids) or this channel.

    Recipients are `users` (ids) when given, else resolved from the kind: a conversation's
    assignee, else the members of its team, else supervisors and admins; for a channel, the owners
    and admins. Each recipient's preferences choose email, webhook, digest or nothing. Returns at
    once; delivery runs in a task after the caller's transaction commits.
    """
    log.info("notify %s about %s users=%s channel=%s", kind, conversations, users, channel_id)
