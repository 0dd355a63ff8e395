"""The permission layer's set-based predicates (used where thousands of rows are decided at once)
agree with its querysets, so that the two never drift apart."""

from __future__ import annotations

from collections.abc import Callable

from comptoir.accounts.models import Team, User
from comptoir.accounts.permissions import team_ids_by_user
from comptoir.connectors.base import InboundMessage
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Shop
from comptoir.inbox.options import assignable_users
from comptoir.inbox.permissions import sees_conversation_row, visible_conversations


def test_row_checks_and_assignable_users_agree_with_visible_conversations(
    agent: User,
    supervisor: User,
    outsider: User,
    analyst: User,
    team: Team,
    other_team: Team,
    shop: Shop,
    make_inbound: Callable[..., InboundMessage],
) -> None:
    theirs = Channel.objects.create(shop=shop, kind="api", name="Theirs", team=other_team)
    nobody = Channel.objects.create(shop=shop, kind="api", name="No team")
    ours = Conversation.objects.get(pk=ingest(make_inbound()).conversation_id)
    other = Conversation.objects.get(pk=ingest(make_inbound(channel_id=theirs.pk)).conversation_id)
    loose = Conversation.objects.get(pk=ingest(make_inbound(channel_id=nobody.pk)).conversation_id)
    Conversation.objects.filter(pk=loose.pk).update(team=team)  # given to our team by hand
    inactive = User.objects.create_user("gone", role="agent", is_active=False)
    team.members.add(inactive)
    users = [agent, supervisor, outsider, analyst, inactive]
    teams = team_ids_by_user(u.pk for u in users)

    for conv in Conversation.objects.select_related("channel"):
        for user in users:
            expected = visible_conversations(user).filter(pk=conv.pk).exists()
            row = sees_conversation_row(
                user,
                teams.get(user.pk, set()),
                channel_team_id=conv.channel.team_id,
                conversation_team_id=conv.team_id,
            )
            assert row == expected, (user.username, conv.pk)
        assignable = set(assignable_users(conv))
        writers_who_see = {
            u for u in users if u.can_write and visible_conversations(u).filter(pk=conv.pk).exists()
        }
        assert assignable & set(users) == writers_who_see, conv.pk
    assert visible_conversations(agent).filter(pk__in=[ours.pk, loose.pk]).count() == 2
    assert not visible_conversations(agent).filter(pk=other.pk).exists()
