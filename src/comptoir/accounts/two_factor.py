"""Two-factor sign-in: an authenticator app (TOTP, through django-otp's `TOTPDevice`) and
single-use recovery codes. The pages, the CLI and the session middleware call these actions,
never the models on their own (an audit log may record each of them).

A user has two-factor sign-in once a TOTP device is confirmed (a first code read back from the
app). The seller may require it of owners and admins (`SecuritySettings`, defaulting to
COMPTOIR_REQUIRE_2FA): they are then sent to enrol before any other page.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import segno
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from comptoir import audit
from comptoir.accounts.models import RecoveryCode, Role, SecuritySettings, User

RECOVERY_CODES = 10
# Recovery codes are read off paper: no 0/O, 1/I/L.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_SETTING_CACHE_KEY = "accounts:require_two_factor"
# How long a process trusts its cached copy of the requirement (other processes learn a change
# within this time; the process that changed it at once).
_SETTING_CACHE_SECONDS = 60
ROLES_THAT_MAY_BE_REQUIRED = frozenset({Role.OWNER, Role.ADMIN})


# -- the requirement ----------------------------------------------------------------------------


def two_factor_required_setting() -> bool:
    """The seller's choice, else the environment's default."""
    cached = cache.get(_SETTING_CACHE_KEY)
    if cached is None:
        row = SecuritySettings.objects.first()
        stored = row.require_two_factor if row is not None else None
        cached = settings.REQUIRE_2FA if stored is None else stored
        cache.set(_SETTING_CACHE_KEY, cached, _SETTING_CACHE_SECONDS)
    return bool(cached)


def may_be_required(user: User) -> bool:
    return user.is_superuser or user.role in ROLES_THAT_MAY_BE_REQUIRED


def two_factor_required(user: User) -> bool:
    """Whether `user` must sign in with a second factor (and enrol before anything else)."""
    return may_be_required(user) and two_factor_required_setting()


def can_manage_security(actor: User) -> bool:
    return actor.is_active and (actor.is_superuser or actor.role in ROLES_THAT_MAY_BE_REQUIRED)


@transaction.atomic
def set_two_factor_requirement(*, actor: User, required: bool) -> None:
    """Require (or stop requiring) two-factor sign-in of owners and admins. An admin who has
    not enrolled may switch it on: they are sent to enrol on their next page."""
    if not can_manage_security(actor):
        raise PermissionDenied("security settings are for owners and admins")
    row = SecuritySettings.objects.select_for_update().first() or SecuritySettings()
    changes = audit.diff({"required": two_factor_required_setting()}, {"required": required})
    row.require_two_factor = required
    row.save()
    cache.delete(_SETTING_CACHE_KEY)
    if changes:
        audit.record("2fa.requirement_changed", actor=actor, changes=changes)


# -- devices -----------------------------------------------------------------------------------


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def has_two_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def start_enrolment(user: User) -> TOTPDevice:
    """The device being enrolled: the same one until confirmed (reloading the page does not
    change the key the app already scanned). Refused once a device is confirmed."""
    if has_two_factor(user):
        raise ValidationError(_("Two-factor sign-in is already on."))
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name="app", confirmed=False)


def _clean_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


@transaction.atomic
def confirm_enrolment(user: User, code: str) -> list[str]:
    """Turn two-factor sign-in on with the first code the app shows; returns the recovery codes
    (shown once, kept hashed)."""
    device = start_enrolment(user)
    if not device.verify_token(_clean_code(code)):
        raise ValidationError(_("This code is not the one the app shows. Try the next one."))
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit.record("2fa.enabled", actor=user, obj=user)
    return _new_recovery_codes(user)


def _hash(user_id: int, code: str) -> str:
    value = f"{user_id}:{_clean_code(code)}"
    return salted_hmac("comptoir.recovery-code", value, algorithm="sha256").hexdigest()


@transaction.atomic
def regenerate_recovery_codes(user: User) -> list[str]:
    """New recovery codes; the previous ones stop working. Returned once, never stored raw."""
    audit.record("2fa.recovery_codes_renewed", actor=user, obj=user)
    return _new_recovery_codes(user)


def _new_recovery_codes(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = ["".join(secrets.choice(_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODES)]
    codes = [f"{c[:5]}-{c[5:]}" for c in codes]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=_hash(user.pk, c)) for c in codes
    )
    return codes


def verify_second_factor(user: User, code: str) -> Literal["app", "recovery"] | None:
    """Check a code from the app, else a recovery code (used once: spent by a conditional
    update, so two requests racing with the same code cannot both pass)."""
    cleaned = _clean_code(code)
    device = confirmed_device(user)
    if device is None or not cleaned:
        return None
    if cleaned.isdigit() and len(cleaned) <= 8:
        return "app" if device.verify_token(cleaned) else None
    spent = RecoveryCode.objects.filter(
        user=user, code_hash=_hash(user.pk, cleaned), used_at__isnull=True
    ).update(used_at=timezone.now())
    if spent:
        audit.record("2fa.recovery_code_used", actor=user, obj=user)
    return "recovery" if spent else None


def remaining_recovery_codes(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def _remove(user: User) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()


@transaction.atomic
def disable_two_factor(user: User, *, password: str) -> None:
    """Turn one's own two-factor sign-in off, with one's password. Refused while required."""
    if not user.check_password(password):
        raise ValidationError(_("Wrong password."))
    if two_factor_required(user):
        raise ValidationError(_("Two-factor sign-in is required for your role."))
    _remove(user)
    audit.record("2fa.disabled", actor=user, obj=user)


@transaction.atomic
def reset_two_factor(user: User, *, actor: User | None) -> None:
    """An owner or admin removes someone's second factor (a lost phone and lost codes); if it
    is required of them, they enrol again at their next sign-in. Only an owner resets an
    owner's. `actor` None: the server's operator (`comptoir unlock --reset-2fa`)."""
    if actor is None:
        _remove(user)
        audit.record("2fa.reset", actor=None, obj=user)
        return
    if not can_manage_security(actor):
        raise PermissionDenied("security settings are for owners and admins")
    if user.role == Role.OWNER and not (actor.is_superuser or actor.role == Role.OWNER):
        raise PermissionDenied("only an owner can reset an owner's two-factor sign-in")
    _remove(user)
    audit.record("2fa.reset", actor=actor, obj=user)


def qr_svg(device: TOTPDevice) -> str:
    """The enrolment QR code as an inline SVG element (no image request, no script)."""
    svg: str = segno.make(device.config_url, error="m").svg_inline(
        scale=5, dark="#101828", light="#ffffff", omitsize=False
    )
    return svg


def manual_key(device: TOTPDevice) -> str:
    """The secret in base32, in groups of four, for typing into an app that cannot scan."""
    from base64 import b32encode

    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


# -- the admin's view --------------------------------------------------------------------------


@dataclass(frozen=True)
class UserSecurity:
    user: User
    enrolled_at: datetime | None
    codes_left: int
    required: bool


def overview(users: Any) -> list[UserSecurity]:
    """Who has two-factor sign-in, since when and with how many recovery codes left, in two
    queries whatever the number of users."""
    devices = dict(
        TOTPDevice.objects.filter(confirmed=True, user__in=users)
        .order_by("user_id", "-created_at")
        .values_list("user_id", "created_at")
    )
    codes = dict(
        RecoveryCode.objects.filter(user__in=users)
        .values("user_id")
        .annotate(n=Count("pk", filter=Q(used_at__isnull=True)))
        .values_list("user_id", "n")
    )
    required = two_factor_required_setting()
    return [
        UserSecurity(
            user=u,
            enrolled_at=devices.get(u.pk),
            codes_left=codes.get(u.pk, 0),
            required=required and may_be_required(u),
        )
        for u in users
    ]
