"""Simulated time for the send path's tests: no test waits for a marketplace's settle time."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import F

from comptoir.inbox.models import Message

# Longer than any connector's `send_settle_seconds`.
SETTLE_TIME = timedelta(hours=1)


def settle_time_passes(by: timedelta = SETTLE_TIME) -> None:
    """Every unanswered post is `by` older: a retry may now post again what it did not find."""
    Message.objects.exclude(delivery_posted_at=None).update(
        delivery_posted_at=F("delivery_posted_at") - by
    )
