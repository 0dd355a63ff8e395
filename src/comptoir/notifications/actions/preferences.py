"""Each user's side: which kinds reach them and how, and their list of notifications."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.core.exceptions import ValidationError
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.notifications.kinds import Kind


def set_preferences(user: User, choices: Mapping[str, tuple[str, bool]]) -> None:
    """Save `user`'s choice (email, webhook) for each kind named."""
    from comptoir.notifications.models import EmailChoice, Preference

    for kind, (email, hook) in choices.items():
        Kind(kind)
        if email not in EmailChoice.values:
            raise ValidationError(f"unknown email choice {email!r}")
        Preference.objects.update_or_create(
            user=user, kind=kind, defaults={"email": email, "webhook": bool(hook)}
        )


def preferences_of(user: User) -> dict[str, tuple[str, bool]]:
    from comptoir.notifications.models import EmailChoice, Preference

    saved = {
        k: (e, w)
        for k, e, w in Preference.objects.filter(user=user).values_list("kind", "email", "webhook")
    }
    return {k: saved.get(k, (EmailChoice.NOW, True)) for k in Kind.values}


def mark_read(user: User, ids: Sequence[int] | None = None) -> int:
    """Mark the user's notifications read (these ids, or all of them)."""
    from comptoir.notifications.models import Notification

    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=timezone.now())


def unread_count(user: User, cap: int = 99) -> int:
    from comptoir.notifications.models import Notification

    # Capped: the header needs "99+", not an exact count over a year of sweeps.
    return len(
        Notification.objects.filter(user=user, read_at__isnull=True).values_list("pk")[: cap + 1]
    )
