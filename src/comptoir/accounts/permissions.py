"""Who may see and change what: the one place the API, the UI and the CLI ask.

Agents see the conversations of their teams; every other role sees all of them. Objects out of a
user's scope are reported as missing (404), never as forbidden, so that their existence does not
leak.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from comptoir.accounts.models import Role, Team

if TYPE_CHECKING:
    from comptoir.accounts.models import User
    from comptoir.inbox.models import Channel, Conversation

# Roles that see every shop and channel; agents are limited to their teams.
SEE_ALL_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR, Role.ANALYST})


def sees_everything(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.role in SEE_ALL_ROLES)


def can_write(user: User) -> bool:
    """Analysts (and inactive users) read only."""
    return user.can_write


def require_write(user: User) -> None:
    if not can_write(user):
        raise PermissionDenied(f"{user.username} has read-only access")


def can_manage_channels(user: User) -> bool:
    """Channel settings (credentials, connection tests) are for owners and admins."""
    return user.is_active and (user.is_superuser or user.role in {Role.OWNER, Role.ADMIN})


def _team_ids(user: User) -> QuerySet[Team, int]:
    # A subquery, not a join: a user in several teams must not duplicate rows.
    return Team.objects.filter(members=user).values_list("pk", flat=True)


def visible_conversations(user: User) -> QuerySet[Conversation]:
    """The conversations `user` may see; hidden ones (deleted, merged away) are left out."""
    from comptoir.inbox.models import Conversation

    qs = Conversation.objects.filter(deleted_at__isnull=True, merged_into__isnull=True)
    if not user.is_active:
        return qs.none()
    if sees_everything(user):
        return qs
    teams = _team_ids(user)
    return qs.filter(Q(channel__team_id__in=teams) | Q(team_id__in=teams))


def visible_channels(user: User) -> QuerySet[Channel]:
    from comptoir.inbox.models import Channel

    qs = Channel.objects.all()
    if not user.is_active:
        return qs.none()
    if sees_everything(user):
        return qs
    return qs.filter(team_id__in=_team_ids(user))


def can_see_conversation(user: User, conv: Conversation) -> bool:
    return visible_conversations(user).filter(pk=conv.pk).exists()


def team_ids_by_user(user_ids: Iterable[int]) -> dict[int, set[int]]:
    """The teams of many users in one query, for the set-based check below."""
    teams: dict[int, set[int]] = {}
    rows = Team.members.through.objects.filter(user_id__in=list(user_ids))
    for user_id, team_id in rows.values_list("user_id", "team_id"):
        teams.setdefault(user_id, set()).add(team_id)
    return teams


def sees_conversation_row(
    user: User,
    user_team_ids: Collection[int],
    *,
    channel_team_id: int | None,
    conversation_team_id: int | None,
) -> bool:
    """`visible_conversations` for a conversation already read (and not hidden), without a
    query: callers deciding for thousands of conversations at once (notifications) read the
    teams once with `team_ids_by_user`. Keep the two rules the same."""
    if not user.is_active:
        return False
    if sees_everything(user):
        return True
    return channel_team_id in user_team_ids or conversation_team_id in user_team_ids


def sees_channel_row(
    user: User, user_team_ids: Collection[int], channel_team_id: int | None
) -> bool:
    """`visible_channels` for a channel already read."""
    if not user.is_active:
        return False
    return sees_everything(user) or channel_team_id in user_team_ids
