"""Sign-in throttling, session expiry and "log out everywhere": the actions the login pages and
the session middleware call (and that an audit log may record).

- Failed sign-ins (a wrong password or a wrong second-step code) are counted per username and
  per client address (the proxy-aware `REMOTE_ADDR`, an IPv6 address by its /64). Past
  `LOGIN_MAX_FAILURES` for a username within `LOGIN_LOCKOUT_MINUTES`, the account is locked, even
  for the right password; past `LOGIN_IP_MAX_FAILURES` from one address, that address is refused
  for every username. Both lift by themselves when the window has passed. A username that does not
  exist is counted the same, so the answer never tells whether an account exists.
- A session ends after `SESSION_IDLE_MINUTES` without a request and `SESSION_DAYS` after sign-in,
  whichever comes first.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from comptoir import audit
from comptoir.accounts import two_factor
from comptoir.accounts.models import LoginFailure, User

# Session keys: when the session signed in, when it was last used, and its second step
# ("verified": passed; "none": its user had no second factor at sign-in; "owed": signed in by
# another door than ours, with a second factor not asked).
LOGIN_AT = "_cpt_login_at"
SEEN_AT = "_cpt_seen_at"
SECOND_STEP = "_cpt_2fa"
# The last use is written at most this often: no session write on every request.
SEEN_RESOLUTION = 60


@dataclass(frozen=True)
class Refusal:
    """Why a sign-in is refused before the password is even checked, and for how long."""

    reason: Literal["account", "address"]
    minutes: int


def network_of(address: str) -> str:
    """The key an address is counted under: an IPv4 address itself, an IPv6 address by its /64
    (one machine usually owns a whole /64, and would otherwise get 2^64 tries)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        mapped = ip.ipv4_mapped  # type: ignore[union-attr]
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _username_key(username: str) -> str:
    # Case-insensitive: "Admin" and "admin" share one count.
    return username.strip().lower()[:150]


def _window() -> timedelta:
    return timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)


def _locked_for(rows: list[datetime], limit: int, now: datetime) -> int | None:
    """Minutes until the `limit`-th most recent failure leaves the window, if it is in it."""
    if len(rows) < limit:
        return None
    until = rows[limit - 1] + _window()
    if until <= now:
        return None
    return max(1, math.ceil((until - now).total_seconds() / 60))


def login_refusal(username: str, address: str, *, now: datetime | None = None) -> Refusal | None:
    """Whether a sign-in from `address` as `username` is refused now (address first: it
    covers every username tried from there)."""
    now = now or timezone.now()
    since = now - _window()
    recent = LoginFailure.objects.filter(created_at__gt=since).order_by("-created_at")
    ip_limit = settings.LOGIN_IP_MAX_FAILURES
    by_ip = list(
        recent.filter(address=network_of(address)).values_list("created_at", flat=True)[:ip_limit]
    )
    minutes = _locked_for(by_ip, ip_limit, now)
    if minutes is not None:
        return Refusal("address", minutes)
    minutes = account_locked_for(username, now=now)
    return Refusal("account", minutes) if minutes is not None else None


def account_locked_for(username: str, *, now: datetime | None = None) -> int | None:
    """Minutes until the account `username` unlocks, or None if it is not locked."""
    now = now or timezone.now()
    limit = settings.LOGIN_MAX_FAILURES
    recent = LoginFailure.objects.filter(
        username=_username_key(username), created_at__gt=now - _window()
    )
    rows = list(recent.order_by("-created_at").values_list("created_at", flat=True)[:limit])
    return _locked_for(rows, limit, now)


@transaction.atomic
def record_login_failure(username: str, address: str, *, now: datetime | None = None) -> None:
    """Count a failed sign-in (a wrong password or second-step code)."""
    now = now or timezone.now()
    LoginFailure.objects.filter(created_at__lte=now - _window()).delete()
    LoginFailure.objects.create(
        username=_username_key(username), address=network_of(address), created_at=now
    )
    # The log names the account tried (the one that exists, if any); the address is the
    # request's. Callers refuse before counting while locked, so a lockout is logged once.
    user = User.objects.filter(username=username).first()
    target = {"obj": user} if user else {"object_type": "accounts.user"}
    audit.record("login.failed", actor=None, label=username[:150], **target)
    refusal = login_refusal(username, address, now=now)
    if refusal is not None:
        audit.record(
            "login.locked_out",
            actor=None,
            label=username[:150],
            changes={"what": refusal.reason, "minutes": refusal.minutes},
            **target,
        )


def clear_login_failures(username: str) -> None:
    """A complete sign-in forgets the account's failures (not the address's: an address that
    guessed many accounts stays throttled even after one of them succeeds)."""
    LoginFailure.objects.filter(username=_username_key(username)).delete()


def unlock_account(user: User, *, actor: User | None) -> int:
    """Lift a lockout at once (owners and admins, from the Security settings page; `actor`
    None: the server's operator, `comptoir unlock`)."""
    if actor is not None and not two_factor.can_manage_security(actor):
        raise PermissionDenied("security settings are for owners and admins")
    lifted = LoginFailure.objects.filter(username=_username_key(user.username)).delete()[0]
    audit.record("login.unlocked", actor=actor, obj=user, changes={"failures": lifted})
    return lifted


# -- sessions -----------------------------------------------------------------------------------


def stamp_new_session(sender: object, request: HttpRequest, user: User, **kwargs: object) -> None:
    """On every sign-in, whatever the door: the session starts now, and owes a second step if
    its user has one (our login page then records it as passed, `start_session`)."""
    owed = two_factor.has_two_factor(user)
    start_session(request.session, second_step="owed" if owed else "none")


def record_sign_in(sender: object, request: HttpRequest, user: User, **kwargs: object) -> None:
    """Every sign-in, whatever the door, in the audit log (with the request's address)."""
    audit.record("login.succeeded", actor=user, obj=user)


def record_sign_out(
    sender: object, request: HttpRequest, user: User | None, **kwargs: object
) -> None:
    """Every sign-out: the user's own, an expired session, "log out everywhere"."""
    if isinstance(user, User):
        audit.record("login.logged_out", actor=user, obj=user)


def start_session(
    session: SessionBase, *, second_step: Literal["verified", "none", "owed"]
) -> None:
    """Stamp a freshly signed-in session: its start (for the absolute limit), its last use and
    whether its user passed a second step."""
    now = int(time.time())
    session[LOGIN_AT] = now
    session[SEEN_AT] = now
    session[SECOND_STEP] = second_step


def session_expired(session: SessionBase, *, now: float | None = None) -> bool:
    """Whether the session is past its idle or absolute limit; a live one has its last use
    refreshed (at most once a minute). A session from before these stamps starts counting now."""
    now = now if now is not None else time.time()
    login_at = session.get(LOGIN_AT)
    if login_at is None:
        session[LOGIN_AT] = session[SEEN_AT] = int(now)
        return False
    if now - login_at > settings.SESSION_DAYS * 86400:
        return True
    seen_at = session.get(SEEN_AT, login_at)
    idle = settings.SESSION_IDLE_MINUTES * 60
    if idle and now - seen_at > idle:
        return True
    if now - seen_at >= SEEN_RESOLUTION:
        session[SEEN_AT] = int(now)
    return False


@transaction.atomic
def log_out_everywhere(user: User) -> None:
    """End every session of `user`, on every browser, this one included: they were signed with
    the previous generation, which Django's authentication middleware then refuses. API tokens
    are not sessions and stay valid: revoke them on their own (`comptoir token revoke`)."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])
    audit.record("login.logged_out_everywhere", actor=user, obj=user)
