"""Who is who: roles, teams, and the two guards every view and API endpoint uses.

What a user may see of the inbox (conversations, channels) is the inbox's own rule, in
`inbox.permissions`; this module knows only users, roles and teams.

One rule for answering a refusal, everywhere (web pages, API, actions):
- an object out of the user's scope is missing: `NotVisible`, answered 404 ("Not Found"), never
  403, so that its existence does not leak;
- an object the user can see, or a page that is not about one object, but that their role may not
  change or open: `PermissionDenied`, answered 403 with the reason.
Both are `PermissionDenied` (`NotVisible` is also Django's `Http404`, so Django and the API answer
404 for it without a handler of their own): the rules engine and bulk actions catch the one type
and record a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404

from comptoir.accounts.models import Role, Team

if TYPE_CHECKING:
    from comptoir.accounts.models import User

# Roles that see every shop and channel; agents are limited to their teams.
SEE_ALL_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR, Role.ANALYST})


class NotVisible(Http404, PermissionDenied):
    """The actor cannot see this object at all: 404 for web and API callers (Http404 comes first
    in the MRO), a permission error for the callers that catch `PermissionDenied`."""


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


def require(user: User, allowed: Callable[[User], bool], why: str) -> User:
    """The guard of a page or an endpoint for some roles only: 403 with `why` for the others."""
    if not allowed(user):
        raise PermissionDenied(why)
    return user


def find_visible[M: Model](scoped: QuerySet[M], pk: int | str) -> M:
    """The object `pk` among `scoped` (what the user may see), or `NotVisible` (404): the guard of
    every view and endpoint about one object. A role check, if any, comes after it."""
    try:
        if not (str(pk).isdigit() and len(str(pk)) < 19):
            raise ObjectDoesNotExist
        return scoped.get(pk=pk)
    except ObjectDoesNotExist:
        raise NotVisible(f"no {scoped.model._meta.verbose_name} {pk} here") from None


def team_ids(user: User) -> QuerySet[Team, int]:
    """The user's teams, as a subquery (not a join: a user in several teams must not duplicate
    the rows it filters)."""
    return Team.objects.filter(members=user).values_list("pk", flat=True)


def team_ids_by_user(user_ids: Iterable[int]) -> dict[int, set[int]]:
    """The teams of many users in one query, for set-based checks (`inbox.permissions`)."""
    teams: dict[int, set[int]] = {}
    rows = Team.members.through.objects.filter(user_id__in=list(user_ids))
    for user_id, team_id in rows.values_list("user_id", "team_id"):
        teams.setdefault(user_id, set()).add(team_id)
    return teams
