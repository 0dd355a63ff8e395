"""An agent's availability for the live chat: Available or Away, their own switch in the header
(remembered on the user, audited), and when they were last seen at the desk (`mark_seen`: the
live stream of any of their pages says so, at most once a minute).

The chat's "an agent is online" (`inbox.chat_views.Desk.agents_online`) is: at least one
available agent who may answer the channel and was seen in the last few minutes (or has one of
the shop's conversations open: the older sign, kept for pages without a live stream). Away
agents never count, whatever they have open."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from comptoir import audit
from comptoir.accounts.models import User

# The live stream says the user is there at most this often...
SEEN_EVERY = timedelta(seconds=60)
# ...so one not seen for this long has closed the desk (a stream reconnects within seconds).
SEEN_RECENTLY = timedelta(minutes=3)


@transaction.atomic
def set_availability(user: User, *, available: bool) -> User:
    """The user's own switch (Available / Away). Read-only users answer no one: refused."""
    if not user.can_write:
        raise PermissionDenied("a read-only user answers no chat")
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.available != available:
        locked.available = available
        locked.save(update_fields=["available"])
        audit.record(
            "user.availability_changed",
            actor=user,
            obj=locked,
            label=locked.username,
            changes={"available": [not available, available]},
        )
    user.available = locked.available
    return user


def mark_seen(user_id: int, now: datetime | None = None) -> None:
    """The user is at the desk now (a heartbeat, not a change: no audit entry)."""
    now = now or timezone.now()
    User.objects.filter(pk=user_id).exclude(seen_at__gt=now - SEEN_EVERY / 2).update(seen_at=now)


def seen_recently(user: User, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return user.seen_at is not None and now - user.seen_at < SEEN_RECENTLY
