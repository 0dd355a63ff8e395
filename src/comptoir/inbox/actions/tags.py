"""The tags themselves (not a conversation's: see `status`): create, rename, delete.

Tags are shared by every team, so renaming or deleting one changes other teams' conversations:
that is for owners, admins and supervisors. Creating one is what tagging a conversation does
anyway, so any user who writes may. Each change is in the audit log; a conversation's timeline
keeps the name the tag had when it was added."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from comptoir import audit
from comptoir.accounts.models import Role
from comptoir.accounts.permissions import require_write
from comptoir.inbox.models import Tag

if TYPE_CHECKING:
    from comptoir.accounts.models import User

TAG_MANAGERS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR})
_COLOR_CHARS = frozenset("#0123456789abcdefABCDEF")


def can_manage_tags(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.role in TAG_MANAGERS)


def _require_manager(actor: User) -> None:
    require_write(actor)
    if not can_manage_tags(actor):
        raise PermissionDenied("renaming and deleting tags is for owners, admins and supervisors")


def _clean_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise ValidationError("a tag needs a name")
    if len(cleaned) > 64:
        raise ValidationError("a tag's name has at most 64 characters")
    return cleaned


def _clean_color(color: str) -> str:
    if not (len(color) == 7 and color.startswith("#") and set(color) <= _COLOR_CHARS):
        raise ValidationError("a colour is written #rrggbb")
    return color.lower()


@transaction.atomic
def create_tag(*, name: str, actor: User, color: str = "") -> Tag:
    require_write(actor)
    cleaned = _clean_name(name)
    if Tag.objects.filter(name=cleaned).exists():
        raise ValidationError(f"the tag {cleaned!r} exists already")
    tag = Tag.objects.create(name=cleaned, **({"color": _clean_color(color)} if color else {}))
    audit.record("tag.created", actor=actor, obj=tag, label=tag.name)
    return tag


@transaction.atomic
def rename_tag(tag: Tag, *, actor: User, name: str | None = None, color: str = "") -> Tag:
    """A new name (and/or colour) on every conversation that has it."""
    _require_manager(actor)
    locked = Tag.objects.select_for_update().get(pk=tag.pk)
    before = {"name": locked.name, "color": locked.color}
    if name is not None:
        cleaned = _clean_name(name)
        if Tag.objects.filter(name=cleaned).exclude(pk=locked.pk).exists():
            raise ValidationError(f"the tag {cleaned!r} exists already")
        locked.name = cleaned
    if color:
        locked.color = _clean_color(color)
    locked.save(update_fields=["name", "color"])
    changes = audit.diff(before, {"name": locked.name, "color": locked.color})
    if changes:
        audit.record("tag.changed", actor=actor, obj=locked, label=locked.name, changes=changes)
    return locked


@transaction.atomic
def delete_tag(tag: Tag, *, actor: User) -> int:
    """Remove the tag from every conversation and delete it; returns how many had it."""
    _require_manager(actor)
    locked = Tag.objects.select_for_update().get(pk=tag.pk)
    count = locked.conversations.count()
    audit.record(
        "tag.deleted", actor=actor, obj=locked, label=locked.name, changes={"conversations": count}
    )
    locked.delete()
    return count
