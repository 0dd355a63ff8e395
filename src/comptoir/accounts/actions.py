"""Changes to users, teams and their preferences: the settings pages, the CLI and the API call
these, never `.save()` on their own."""

from __future__ import annotations

from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from comptoir import audit
from comptoir.accounts.models import Role, Team, User

LANGUAGE_CODES = frozenset(code for code, _ in settings.LANGUAGES)


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown timezone {name!r} (e.g. Europe/Paris)") from None
    return name


def _check_language(code: str) -> str:
    if code and code not in LANGUAGE_CODES:
        raise ValidationError(f"language must be one of {', '.join(sorted(LANGUAGE_CODES))}")
    return code


def update_profile(
    user: User,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    language: str | None = None,
    timezone: str | None = None,
    keyboard_shortcuts: bool | None = None,
) -> User:
    """A user's own preferences: name, language ("" follows the browser), timezone, whether
    single-key shortcuts act."""
    fields = []
    if first_name is not None:
        user.first_name = first_name.strip()[:150]
        fields.append("first_name")
    if last_name is not None:
        user.last_name = last_name.strip()[:150]
        fields.append("last_name")
    if language is not None:
        user.language = _check_language(language)
        fields.append("language")
    if timezone is not None:
        user.timezone = _check_timezone(timezone)
        fields.append("timezone")
    if keyboard_shortcuts is not None:
        user.keyboard_shortcuts = keyboard_shortcuts
        fields.append("keyboard_shortcuts")
    if fields:
        user.save(update_fields=fields)
    return user


def can_manage_users(actor: User) -> bool:
    return actor.is_active and (actor.is_superuser or actor.role in {Role.OWNER, Role.ADMIN})


def _require_manager(actor: User, role: str | None = None) -> None:
    if not can_manage_users(actor):
        raise PermissionDenied("users and teams are managed by owners and admins")
    # Only an owner makes owners: an admin cannot raise anyone, themselves included, above admin.
    if role == Role.OWNER and not (actor.is_superuser or actor.role == Role.OWNER):
        raise PermissionDenied("only an owner can make someone an owner")


@transaction.atomic
def create_user(
    *,
    actor: User,
    username: str,
    email: str,
    role: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    teams: Iterable[int] = (),
) -> User:
    _require_manager(actor, role)
    username = username.strip()
    if role not in Role.values:
        raise ValidationError(f"role must be one of {', '.join(Role.values)}")
    if not username:
        raise ValidationError("a user needs a username")
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(f"the username {username!r} is taken")
    user = User(
        username=username,
        email=email.strip(),
        role=role,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
    )
    validate_password(password, user)
    user.set_password(password)
    user.save()
    user.teams.set(Team.objects.filter(pk__in=list(teams)))
    audit.record(
        "user.created",
        actor=actor,
        obj=user,
        label=user.username,
        changes={"role": role, "teams": sorted(user.teams.values_list("name", flat=True))},
    )
    return user


@transaction.atomic
def update_user(
    user: User,
    *,
    actor: User,
    role: str | None = None,
    is_active: bool | None = None,
    teams: Iterable[int] | None = None,
) -> User:
    _require_manager(actor, role)
    if user.role == Role.OWNER and not (actor.is_superuser or actor.role == Role.OWNER):
        raise PermissionDenied("only an owner can change an owner")
    if user.pk == actor.pk and (is_active is False or (role and role != user.role)):
        raise ValidationError("you cannot deactivate yourself or change your own role")
    before = {"role": user.role, "is_active": user.is_active, "teams": _team_names(user)}
    if role is not None:
        if role not in Role.values:
            raise ValidationError(f"role must be one of {', '.join(Role.values)}")
        user.role = role
    if is_active is not None:
        user.is_active = is_active
    user.save(update_fields=["role", "is_active"])
    if teams is not None:
        user.teams.set(Team.objects.filter(pk__in=list(teams)))
    _audit_user_change(user, actor, before)
    return user


def _team_names(user: User) -> list[str]:
    return sorted(user.teams.values_list("name", flat=True))


def _audit_user_change(user: User, actor: User, before: dict[str, object]) -> None:
    after = {"role": user.role, "is_active": user.is_active, "teams": _team_names(user)}
    changes = audit.diff(before, after)
    if not changes:
        return
    # The most telling name first: a deactivation, then a role change, then teams.
    if "is_active" in changes:
        action = "user.deactivated" if not user.is_active else "user.reactivated"
    else:
        action = "user.role_changed" if "role" in changes else "user.teams_changed"
    audit.record(action, actor=actor, obj=user, label=user.username, changes=changes)


@transaction.atomic
def save_team(
    team: Team | None, *, actor: User, name: str, members: Iterable[int] | None = None
) -> Team:
    _require_manager(actor)
    name = name.strip()[:100]
    if not name:
        raise ValidationError("a team needs a name")
    clash = Team.objects.filter(name__iexact=name)
    if team is not None:
        clash = clash.exclude(pk=team.pk)
    if clash.exists():
        raise ValidationError(f"there is already a team called {name!r}")
    created = team is None
    team = team or Team()
    before = {"name": team.name, "members": _member_names(team) if team.pk else []}
    team.name = name
    team.save()
    if members is not None:
        team.members.set(User.objects.filter(pk__in=list(members)))
    changes = audit.diff(before, {"name": team.name, "members": _member_names(team)})
    if changes:
        audit.record(
            "team.created" if created else "team.changed", actor=actor, obj=team, changes=changes
        )
    return team


def _member_names(team: Team) -> list[str]:
    return sorted(team.members.values_list("username", flat=True))
