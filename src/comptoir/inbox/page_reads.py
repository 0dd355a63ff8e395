"""The conversation page's small look-ups, each compiled once per process (`inbox.prepared`):
building their SQL cost the ORM more than the rest of what they do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from comptoir.accounts.models import Team
from comptoir.inbox.models import ComposerDraft, Event, Tag
from comptoir.inbox.prepared import Prepared

if TYPE_CHECKING:
    from comptoir.accounts.models import User


def _latest_event() -> QuerySet[Event]:
    return Event.objects.order_by("-pk").only("pk")[:1]


def _teams(user: int) -> QuerySet[Team]:
    return Team.objects.filter(members=user).only("pk")


def _draft(conversation: int, user: int) -> QuerySet[ComposerDraft]:
    return ComposerDraft.objects.filter(conversation_id=conversation, user_id=user)[:1]


def _tags(conversation: int) -> QuerySet[Tag]:
    return Tag.objects.filter(conversations=conversation).only("name")


LATEST_EVENT = Prepared(_latest_event)
TEAMS = Prepared(_teams, "user")
DRAFT = Prepared(_draft, "conversation", "user")
TAGS = Prepared(_tags, "conversation")


def last_event_id() -> int:
    """`inbox.live.last_event_id`, prepared."""
    found = LATEST_EVENT.all()
    return found[0].pk if found else 0


def team_ids(user: User) -> set[int]:
    """The user's teams (`accounts.permissions.team_ids`), read now."""
    return {team.pk for team in TEAMS.all(user=user.pk)}


def draft(conversation_id: int, user: User) -> ComposerDraft | None:
    found = DRAFT.all(conversation=conversation_id, user=user.pk)
    return found[0] if found else None


def tag_names(conversation_id: int) -> list[str]:
    return sorted(tag.name for tag in TAGS.all(conversation=conversation_id))
