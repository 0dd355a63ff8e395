"""The conversation page's and the inbox's small look-ups, each compiled once per process
(`inbox.prepared`): building their SQL cost the ORM more than the rest of what they do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from comptoir.accounts.models import Role, Team
from comptoir.accounts.models import User as UserModel
from comptoir.accounts.permissions import sees_everything
from comptoir.inbox.models import (
    Attachment,
    ComposerDraft,
    Conversation,
    Event,
    Message,
    SavedView,
    Tag,
)
from comptoir.inbox.permissions import visible_conversations
from comptoir.inbox.prepared import Prepared

if TYPE_CHECKING:
    from comptoir.accounts.models import User


def stand_in(user_id: int, sees_all: bool) -> User:
    """A user who sees what users of this shape see (everything, or their teams' channels),
    with `user_id` standing for theirs in the SQL."""
    return UserModel(pk=user_id, is_active=True, role=Role.ADMIN if sees_all else Role.AGENT)


def _conversation(sees_all: bool, user: int, conversation: int) -> QuerySet[Conversation]:
    return (
        visible_conversations(stand_in(user, sees_all))
        .filter(pk=conversation)
        .select_related("channel", "customer", "assignee", "order", "team", "shop")
    )


def _events(limit: int | None, hidden: tuple[str, ...], conversation: int) -> QuerySet[Event]:
    return (
        Event.objects.filter(conversation_id=conversation)
        .exclude(kind__in=hidden)
        .select_related("actor")
        .order_by("-created_at", "-id")[:limit]
    )


def _messages(limit: int | None, conversation: int) -> QuerySet[Message]:
    return (
        Message.objects.filter(conversation_id=conversation)
        .select_related("author")
        .order_by("-created_at", "-id")[:limit]
    )


def _attachments(conversation: int) -> QuerySet[Attachment]:
    return Attachment.objects.filter(message__conversation_id=conversation).order_by("pk")


def _latest_event() -> QuerySet[Event]:
    return Event.objects.order_by("-pk").only("pk")[:1]


def _teams(user: int) -> QuerySet[Team]:
    return Team.objects.filter(members=user).only("pk")


def _draft(conversation: int, user: int) -> QuerySet[ComposerDraft]:
    return ComposerDraft.objects.filter(conversation_id=conversation, user_id=user)[:1]


def _tags(conversation: int) -> QuerySet[Tag]:
    return Tag.objects.filter(conversations=conversation).only("name")


def _saved_views(user: int) -> QuerySet[SavedView]:
    return SavedView.objects.filter(user_id=user).order_by("position", "name")


CONVERSATION = Prepared(_conversation, "user", "conversation")
EVENTS = Prepared(_events, "conversation")
MESSAGES = Prepared(_messages, "conversation")
ATTACHMENTS = Prepared(_attachments, "conversation")
LATEST_EVENT = Prepared(_latest_event)
SAVED_VIEWS = Prepared(_saved_views, "user")
TEAMS = Prepared(_teams, "user")
DRAFT = Prepared(_draft, "conversation", "user")
TAGS = Prepared(_tags, "conversation")


def conversation(user: User, pk: int) -> Conversation | None:
    """The conversation `pk` with the rows its page shows (channel, customer, assignee, order,
    team, shop) if `user` sees it (`inbox.permissions.visible_conversations`), else None."""
    if not user.is_active or not 0 < pk < 2**63:  # past a 64-bit key: none (not an error)
        return None
    sees_all = sees_everything(user)
    found = CONVERSATION.all(sees_all, {"sees_all": sees_all}, user=user.pk, conversation=pk)
    return found[0] if found else None


def events(conv: Conversation, limit: int | None, hidden: tuple[str, ...]) -> list[Event]:
    """The newest `limit` events of `conv` (all with None) but the `hidden` kinds, newest first,
    with their actors; `hidden` is the same on every call of a process."""
    found = EVENTS.all(limit, {"limit": limit, "hidden": hidden}, conversation=conv.pk)
    for event in found:
        event.conversation = conv  # as `conv.events` would have given them
    return found


def messages(
    conv: Conversation, limit: int | None
) -> tuple[list[Message], dict[int, list[Attachment]]]:
    """The newest `limit` messages of `conv` (all with None), newest first, with their authors;
    and their attachments by message (no query when there is no message, as a prefetch)."""
    found = MESSAGES.all(limit, {"limit": limit}, conversation=conv.pk)
    files: dict[int, list[Attachment]] = {}
    for message in found:
        message.conversation = conv  # as `conv.messages` would have given them
        files[message.pk] = []
    if found:
        # The whole conversation's: one statement, whatever the messages' count.
        for attachment in ATTACHMENTS.all(conversation=conv.pk):
            if attachment.message_id in files:
                files[attachment.message_id].append(attachment)
    return found, files


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
