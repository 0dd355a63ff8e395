"""Who may see a conversation or a channel, and who may do what to a conversation.

Agents see the conversations of their teams (the channel's team, or the team the conversation
was given to); every other role sees all of them. Deleted and merged-away conversations are hidden
from everyone's lists.

The rules of the guarded actions live here and are called by the actions themselves
(`inbox.actions`), never by their callers: views, the API, rules and bulk actions only call the
action and let its error through. How a refusal is answered is `accounts.permissions`' one rule:
`NotVisible` (404) when the actor cannot see the conversation at all, `PermissionDenied` (403)
when they can but may not do this. `actor=None` is the system (a rule, a connector): it sees
everything, but the invariants about the conversation itself (who may be its assignee) still hold,
and a rule that would break one fails its run.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from comptoir.accounts.permissions import (
    NotVisible,
    can_manage_channels,
    find_visible,
    require_write,
    sees_everything,
    team_ids,
)
from comptoir.inbox.models import Channel, Conversation, InboundRecord, InboundState

if TYPE_CHECKING:
    from comptoir.accounts.models import User


# -- what a user sees ----------------------------------------------------------------------------


def _scope(user: User) -> QuerySet[Conversation]:
    """Every conversation of the user's teams, hidden ones included (a deleted one to restore)."""
    qs = Conversation.objects.all()
    if not user.is_active:
        return qs.none()
    if sees_everything(user):
        return qs
    teams = team_ids(user)
    return qs.filter(Q(channel__team_id__in=teams) | Q(team_id__in=teams))


def visible_conversations(user: User) -> QuerySet[Conversation]:
    """The conversations `user` may see; hidden ones (deleted, merged away) are left out."""
    return _scope(user).filter(deleted_at__isnull=True, merged_into__isnull=True)


def visible_channels(user: User) -> QuerySet[Channel]:
    qs = Channel.objects.all()
    if not user.is_active:
        return qs.none()
    if sees_everything(user):
        return qs
    return qs.filter(team_id__in=team_ids(user))


def can_see_conversation(user: User, conv: Conversation) -> bool:
    return visible_conversations(user).filter(pk=conv.pk).exists()


def sees_conversation_row(
    user: User,
    user_team_ids: Collection[int],
    *,
    channel_team_id: int | None,
    conversation_team_id: int | None,
) -> bool:
    """`visible_conversations` for a conversation already read (and not hidden), without a
    query: callers deciding for thousands of conversations at once (notifications) read the
    teams once with `accounts.permissions.team_ids_by_user`. Keep the two rules the same."""
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


def _sees_channel(user: User, channel: Channel) -> bool:
    return sees_everything(user) or visible_channels(user).filter(pk=channel.pk).exists()


# -- the guards of views and API endpoints -----------------------------------------------------


def conversation_for(
    user: User, pk: int | str, *, write: bool = False, qs: QuerySet[Conversation] | None = None
) -> Conversation:
    """The conversation `pk` as `user` may see it (`qs`: the same, with its related rows) or 404;
    with `write`, 403 for a user who reads only. The one lookup of pages and endpoints."""
    found = find_visible(qs if qs is not None else visible_conversations(user), pk)
    return visible_or_404(user, found, pk, write=write)


def visible_or_404(
    user: User, conv: Conversation | None, pk: int | str, *, write: bool = False
) -> Conversation:
    """What `conversation_for` answers, for a page that looks up what `user` sees its own way
    (`inbox.page_reads.conversation`): 404 when it found none; with `write`, 403 for a user
    who reads only."""
    if conv is None:
        raise NotVisible(f"no conversation {pk} here")
    if write:
        require_write(user)
    return conv


# -- the rules of the guarded actions ------------------------------------------------------------


def _sees(user: User, conv: Conversation) -> bool:
    # Hidden ones count: the action refuses a deleted or merged conversation with its own
    # message (and restores a deleted one).
    if user.is_active and sees_everything(user):
        return True
    return _scope(user).filter(pk=conv.pk).exists()


def _require_sees(actor: User | None, conv: Conversation) -> None:
    """404 for an actor who cannot see `conv`."""
    if actor is not None and not _sees(actor, conv):
        raise NotVisible(f"no conversation {conv.pk} here")


def cannot_assign(user_id: object) -> PermissionDenied:
    """The one refusal for "no such user", "would not see it" and "reads only": a caller cannot
    tell them apart, so nobody probes for the users of other teams."""
    return PermissionDenied(f"user {user_id} cannot be assigned this conversation")


def check_assign(actor: User | None, conv: Conversation, assignee: User | None) -> None:
    """Anyone who may change the conversation may take it or give it to a colleague (or to
    nobody); the assignee must be active, may answer, and would see it (that last rule holds for
    rules too: a rule never gives a conversation to someone of another team)."""
    _require_sees(actor, conv)
    if actor is not None:
        require_write(actor)
    if assignee is None:
        return
    if not (assignee.is_active and assignee.can_write and _sees(assignee, conv)):
        raise cannot_assign(assignee.pk)


def check_team(actor: User | None, conv: Conversation, team_id: int | None) -> None:
    """Agents give a conversation to one of their own teams (or to none); supervisors, admins,
    owners and rules to any team."""
    _require_sees(actor, conv)
    if actor is None:
        return
    require_write(actor)
    if team_id is None or sees_everything(actor):
        return
    if not team_ids(actor).filter(pk=team_id).exists():
        raise PermissionDenied("agents give conversations to their own teams only")


def check_change(actor: User | None, conv: Conversation) -> None:
    """Deleting: whoever sees the conversation and may write. It goes to the trash, where
    owners and admins restore it until the purge (`check_restore`)."""
    _require_sees(actor, conv)
    if actor is not None:
        require_write(actor)


def can_manage_trash(user: User) -> bool:
    """The trash (deleted conversations, restore) is for owners and admins: those who answer for
    what the seller keeps, as for channels."""
    return can_manage_channels(user)


def trash(user: User) -> QuerySet[Conversation]:
    """The deleted conversations `user` may restore (none for other roles), merged ones left out:
    they live on in their target."""
    if not can_manage_trash(user):
        return Conversation.objects.none()
    return _scope(user).filter(deleted_at__isnull=False, merged_into__isnull=True)


def check_restore(actor: User | None, conv: Conversation) -> None:
    """Restoring from the trash: owners and admins (and the system); 404 for a conversation they
    would not see, 403 for the other roles."""
    _require_sees(actor, conv)
    if actor is not None and not can_manage_trash(actor):
        raise PermissionDenied("deleted conversations are restored by owners and admins")


def check_merge(actor: User | None, source: Conversation, into: Conversation) -> None:
    """Merging needs both conversations visible to the actor."""
    _require_sees(actor, source)
    _require_sees(actor, into)
    if actor is not None:
        require_write(actor)


def check_channel_settings(actor: User, channel: Channel | None) -> None:
    """Shops and channels (settings, credentials) are for owners and admins; a channel the actor
    cannot see is not there (404)."""
    if channel is not None and channel.pk is not None and not _sees_channel(actor, channel):
        raise NotVisible(f"no channel {channel.pk} here")
    if not can_manage_channels(actor):
        raise PermissionDenied("shops and channels are managed by owners and admins")


def failed_inbound(user: User) -> QuerySet[InboundRecord]:
    """Failed raw records of the channels the user sees; one whose channel is gone (or a
    payload that named none) is still the admins' to see."""
    return InboundRecord.objects.filter(state=InboundState.FAILED).filter(
        Q(channel__in=visible_channels(user)) | Q(channel__isnull=True)
    )
