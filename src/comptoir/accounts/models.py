"""Users, roles, teams and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    SUPERVISOR = "supervisor", _("Supervisor")
    AGENT = "agent", _("Agent")
    ANALYST = "analyst", _("Analyst")


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    timezone = models.CharField(max_length=64, default="Europe/Paris")
    language = models.CharField(max_length=8, blank=True)
    # Single-key shortcuts (j, k, r, a...): off for someone who types with a speech tool or a
    # switch, where a stray letter would act on the conversation.
    keyboard_shortcuts = models.BooleanField(default=True)
    # Raised by "log out everywhere": every session signed with the previous value ends.
    session_generation = models.PositiveIntegerField(default=0)
    # The agent's own switch for the live chat (`accounts.availability`): Away counts nobody
    # online; Available counts while the agent is seen at the desk (`seen_at`, told by the live
    # stream of any of their pages, at most once a minute).
    available = models.BooleanField(default=True)
    seen_at = models.DateTimeField(null=True, blank=True)

    def _session_hash(self, secret: str | bytes | None = None) -> str:
        # Generation 0 signs as Django does, so that sessions open before this field existed
        # stay valid; each later generation invalidates all the sessions signed before it.
        value = (
            self.password
            if not self.session_generation
            else (f"{self.password}:{self.session_generation}")
        )
        key_salt = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
        return salted_hmac(key_salt, value, secret=secret, algorithm="sha256").hexdigest()

    def get_session_auth_hash(self) -> str:
        return self._session_hash()

    def get_session_auth_fallback_hash(self):  # type: ignore[no-untyped-def]
        for fallback_secret in settings.SECRET_KEY_FALLBACKS:
            yield self._session_hash(secret=fallback_secret)

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def can_write(self) -> bool:
        return self.is_active and self.role != Role.ANALYST


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)

    def __str__(self) -> str:
        return self.name


class TokenScope(models.TextChoices):
    """What a token may do: read (GET only), write (the agent's changes), admin (also the
    owners' and admins' endpoints: audit log, data-protection requests, trash), within what
    its user's role allows."""

    READ = "read", _("Read only")
    WRITE = "write", _("Read and write")
    ADMIN = "admin", _("Admin")


def widest_scope(user: User) -> str:
    if user.is_superuser or user.role in {Role.OWNER, Role.ADMIN}:
        return TokenScope.ADMIN
    # An analyst's writes are refused by their role already, with the same answer as ever.
    return TokenScope.WRITE


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class APIToken(models.Model):
    """A bearer token for the REST API; only its hash is kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Tokens from before scopes could write: they keep doing so.
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.WRITE)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user: User, name: str, scope: str | None = None) -> tuple[APIToken, str]:
        """Create a token; the raw value is returned once and never stored. Without a scope,
        the widest its user's role can use (admin for owners and admins, else write)."""
        scope = scope or widest_scope(user)
        raw = "cpt_" + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, prefix=raw[:12], token_hash=hash_token(raw), scope=scope
        )
        return token, raw


class RecoveryCode(models.Model):
    """A single-use code that stands in for the authenticator app. Only a keyed hash is kept
    (HMAC with the secret key): a copy of the database alone does not let anyone try them."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes"
    )
    code_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"


class LoginFailure(models.Model):
    """One failed sign-in (wrong password or wrong code), counted per username and per address
    to lock the account and throttle the address. Rows older than the window are deleted."""

    username = models.CharField(max_length=150, db_index=True)
    address = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.username} from {self.address}"


class SecuritySettings(models.Model):
    """The seller's security choices (one row). `require_two_factor` None: the environment's
    default (COMPTOIR_REQUIRE_2FA) applies until an admin sets it."""

    require_two_factor = models.BooleanField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "security settings"
