"""Who may do what with the knowledge base: the templates' rule. Owners, admins and supervisors
write articles; every other active user (agents, analysts) reads them. Actions check it;
callers never check for themselves."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from comptoir.accounts.models import Role, User

EDITORS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR})


def can_read(user: User) -> bool:
    return user.is_active


def can_edit(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.role in EDITORS)


def require_edit(user: User) -> None:
    if not can_edit(user):
        raise PermissionDenied(f"{user.username} may not change articles (supervisors and admins)")
