"""An agent's own state: saved views, presence on a conversation, drafts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import QueryDict
from django.utils import timezone

from comptoir.inbox.models import (
    ComposerDraft,
    Conversation,
    Event,
    EventKind,
    Presence,
    PresenceState,
    SavedView,
)
from comptoir.inbox.queries import FILTER_PARAMS

# What a saved view keeps of the inbox URL: the view and its filters.
SAVED_VIEW_PARAMS = frozenset({"view", *FILTER_PARAMS})

if TYPE_CHECKING:
    from comptoir.accounts.models import User


# -- an agent's own state: saved views, presence, drafts -----------------------------------------


def save_view(user: User, *, name: str, query: str) -> SavedView:
    """Save (or overwrite, by name) the inbox filters `query` as one of the user's views."""
    name = name.strip()[:80]
    if not name:
        raise ValidationError("a saved view needs a name")
    # Only the inbox's own parameters are kept: no cursor, nothing else smuggled into the nav.
    kept = {
        k: str(v) for k, v in QueryDict(query).items() if k in SAVED_VIEW_PARAMS and str(v).strip()
    }
    position = SavedView.objects.filter(user=user).count()
    view, _ = SavedView.objects.update_or_create(
        user=user,
        name=name,
        defaults={"query": urlencode(kept)[:1000]},
        create_defaults={"query": urlencode(kept)[:1000], "position": position},
    )
    return view


def delete_view(user: User, *, view_id: int) -> None:
    SavedView.objects.filter(user=user, pk=view_id).delete()


PRESENCE_TTL_SECONDS = 45  # the page beats every 20 s: a closed tab is gone within a minute
# A presence this recent, in the same state, is not written again: still shown for 35 s more.
PRESENCE_WRITE_SECONDS = 10


def mark_presence(conv: Conversation, *, user: User, state: str) -> None:
    """`user` has `conv` open (viewing) or is writing in it (replying), as of now. A row that
    says the same and is under PRESENCE_WRITE_SECONDS old is left as it is: the conversation
    page, its heartbeat and the draft's autosave all call this, and most calls changed nothing
    (decided in the database, so every process and host agrees), in one statement whatever
    the row's state. A caller that has just read the row may skip the call when
    `presence_is_current` says so."""
    if state not in PresenceState.values:
        raise ValidationError(f"unknown presence state {state!r}")
    now = timezone.now()
    fresh = now - timedelta(seconds=PRESENCE_WRITE_SECONDS)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(_PRESENCE_UPSERT, [conv.pk, user.pk, state, adapt(now), adapt(fresh)])


# One statement whether the row is new, stale or fresh (SQLite 3.24+ and PostgreSQL alike):
# an UPDATE, then an INSERT when it touched nothing, took two on a fresh row.
_PRESENCE_UPSERT = f"""
INSERT INTO {Presence._meta.db_table} (conversation_id, user_id, state, seen_at)
VALUES (%s, %s, %s, %s)
ON CONFLICT (conversation_id, user_id) DO UPDATE
SET state = excluded.state, seen_at = excluded.seen_at
WHERE {Presence._meta.db_table}.state <> excluded.state
   OR {Presence._meta.db_table}.seen_at < %s
"""


def presence_is_current(known: tuple[str, datetime] | None, state: str) -> bool:
    """Whether a presence read just now (`inbox.queries.presence_on`) already says `state`
    recently enough that `mark_presence` would write nothing (the page then skips its writes)."""
    if known is None:
        return False
    fresh = timezone.now() - timedelta(seconds=PRESENCE_WRITE_SECONDS)
    return known[0] == state and known[1] >= fresh


def leave_conversation(conv: Conversation, *, user: User) -> None:
    Presence.objects.filter(conversation=conv, user=user).delete()


@transaction.atomic
def save_draft(
    conv: Conversation, *, user: User, text: str, mode: str = "reply", after: int | None = None
) -> bool:
    """Keep the user's unsent answer; an empty one is forgotten. `after`: the newest event when
    the page was drawn. If the user has sent a reply or a note here since, the save comes from
    a page that no longer holds an unsent answer (an autosave that reached the server after the
    send): it is dropped, or it would bring the sent text back as a draft. Returns whether the
    draft was kept."""
    if after is not None:
        # A send holds this lock until it commits: a save waits for it, then sees its event.
        Conversation.objects.select_for_update().filter(pk=conv.pk).values_list("pk").first()
        sent = Event.objects.filter(
            conversation=conv,
            actor=user,
            kind__in=(EventKind.REPLIED, EventKind.NOTE_ADDED),
            pk__gt=after,
        )
        if sent.exists():
            return False
    if not text.strip():
        ComposerDraft.objects.filter(conversation=conv, user=user).delete()
        return True
    ComposerDraft.objects.update_or_create(
        conversation=conv,
        user=user,
        defaults={
            "text": text[:100_000],
            "mode": "note" if mode == "note" else "reply",
            "updated_at": timezone.now(),
        },
    )
    return True
