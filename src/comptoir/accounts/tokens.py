"""Issuing and revoking API tokens, and what each scope allows: the command and the API call
these, and each is in the audit log."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from comptoir import audit
from comptoir.accounts import two_factor
from comptoir.accounts.models import APIToken, TokenScope, User, widest_scope

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_scope(scope: str, method: str) -> None:
    """A read-only token may only read: 403 for any other method, whatever the endpoint."""
    if method.upper() not in SAFE_METHODS and scope == TokenScope.READ:
        raise PermissionDenied("this token is read-only")


def require_admin_scope(scope: str | None) -> None:
    """The owners' and admins' endpoints want an admin token (`None`: a signed-in session)."""
    if scope is not None and scope != TokenScope.ADMIN:
        raise PermissionDenied("this endpoint needs a token with the admin scope")


@transaction.atomic
def issue_token(
    user: User, *, name: str, scope: str | None = None, actor: User | None
) -> tuple[APIToken, str]:
    """A new token for `user`; the raw value is returned once. An admin token only for an
    owner or an admin (it would open nothing more for others)."""
    scope = scope or widest_scope(user)
    if scope not in TokenScope.values:
        raise ValidationError(f"scope must be one of {', '.join(TokenScope.values)}")
    if not user.is_active:
        raise ValidationError(f"user {user.username!r} is inactive")
    # A token is not a way around two-factor sign-in required of this user's role.
    if two_factor.two_factor_required(user) and not two_factor.has_two_factor(user):
        raise ValidationError(
            f"{user.username!r} must set up two-factor sign-in first (required for their role)"
        )
    if scope == TokenScope.ADMIN and not (user.is_superuser or user.role in {"owner", "admin"}):
        raise ValidationError("an admin token is for owners and admins")
    name = name.strip()[:100]
    if not name:
        raise ValidationError("give the token a name that says what it is for")
    token, raw = APIToken.issue(user, name, scope)
    audit.record(
        "token.created",
        actor=actor,
        obj=token,
        label=f"{token.prefix}… {name} ({user.username})",
        changes={"scope": scope, "user": user.username},
    )
    return token, raw


@transaction.atomic
def revoke_token(token: APIToken, *, actor: User | None) -> None:
    if token.revoked_at is not None:
        return
    APIToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    audit.record("token.revoked", actor=actor, obj=token, label=f"{token.prefix}… {token.name}")
