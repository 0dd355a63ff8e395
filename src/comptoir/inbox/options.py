"""The choices the inbox offers (filter bar, assignment lists, teams), cached a minute: they
change rarely, and reading them is four queries per page otherwise."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.db.models import Q, QuerySet

if TYPE_CHECKING:
    from comptoir.accounts.models import User
    from comptoir.inbox.models import Conversation


def assignable_users(conv: Conversation) -> QuerySet[User]:
    """Who a conversation can be given to: active users who may write and would see it."""
    from django.db.models import Exists, OuterRef

    from comptoir.accounts.models import Role, Team
    from comptoir.accounts.models import User as UserModel
    from comptoir.accounts.permissions import SEE_ALL_ROLES

    teams = [t for t in (conv.team_id, conv.channel.team_id) if t is not None]
    in_team = Team.members.through.objects.filter(user_id=OuterRef("pk"), team_id__in=teams)
    return (
        UserModel.objects.filter(is_active=True)
        .exclude(role=Role.ANALYST)
        .filter(Q(role__in=SEE_ALL_ROLES) | Q(is_superuser=True) | Exists(in_team))
        .order_by("first_name", "username")
    )


@dataclass(frozen=True)
class Option:
    """One choice of a filter or an assignment list."""

    pk: int
    name: str


# The filter bar's and the assignment lists' choices change rarely: kept this long per process
# (a new channel or colleague shows within a minute; what is posted back is checked anyway).
OPTIONS_TTL = 60


def filter_options(user: User) -> dict[str, Any]:
    """The inbox filter bar's channels, shops, teams and assignees for `user`, and the token
    that names this set (new each time it is read afresh)."""
    from comptoir.accounts.models import User as UserModel
    from comptoir.inbox.models import Shop
    from comptoir.inbox.permissions import visible_channels

    key = f"inbox:filter-options:{user.pk}"
    cached = cache.get(key)
    if cached is None:
        channels = visible_channels(user)
        cached = {
            "channels": [
                Option(pk, n) for pk, n in channels.order_by("name").values_list("pk", "name")
            ],
            "shops": [
                Option(pk, n)
                for pk, n in Shop.objects.filter(pk__in=channels.values("shop_id"))
                .order_by("name")
                .values_list("pk", "name")
            ],
            "teams": team_options(),
            "assignees": [
                Option(u.pk, u.display_name)
                for u in UserModel.objects.filter(is_active=True).order_by("username")
            ],
            # Names this set of choices: a page part rendered from them is kept under it.
            "options_token": secrets.token_hex(8),
        }
        cache.set(key, cached, OPTIONS_TTL)
    return dict(cached)


def team_options() -> list[Option]:
    from comptoir.accounts.models import Team

    key = "inbox:team-options"
    cached = cache.get(key)
    if cached is None:
        cached = [
            Option(pk, n) for pk, n in Team.objects.order_by("name").values_list("pk", "name")
        ]
        cache.set(key, cached, OPTIONS_TTL)
    return list(cached)


def assignee_options(conv: Conversation) -> list[Option]:
    """`assignable_users`, as choices, per set of teams the conversation belongs to."""
    teams = sorted(t for t in (conv.team_id, conv.channel.team_id) if t is not None)
    key = f"inbox:assignee-options:{','.join(map(str, teams))}"
    cached = cache.get(key)
    if cached is None:
        cached = [Option(u.pk, u.display_name) for u in assignable_users(conv)]
        cache.set(key, cached, OPTIONS_TTL)
    return list(cached)
