"""Sign-in in two steps, and one's own security page: two-factor enrolment, recovery codes,
"log out everywhere". Thin: every change is an action of `two_factor` or `login_guard`."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from comptoir.accounts import availability, login_guard, two_factor
from comptoir.accounts.models import User

# Between the password and the code: who, since when, where to go next.
PENDING = "_cpt_pending"
PENDING_SECONDS = 300


def _address(request: HttpRequest) -> str:
    # Already the client's address behind COMPTOIR_PROXY_COUNT proxies (web.proxy).
    return str(request.META.get("REMOTE_ADDR", ""))


def _next(request: HttpRequest, raw: str) -> str:
    safe = url_has_allowed_host_and_scheme(
        raw, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return raw if raw and safe else settings.LOGIN_REDIRECT_URL


def _refusal_text(refusal: login_guard.Refusal) -> str:
    if refusal.reason == "address":
        text = ngettext(
            "Too many failed sign-ins from your network. Try again in %(n)d minute.",
            "Too many failed sign-ins from your network. Try again in %(n)d minutes.",
            refusal.minutes,
        )
    else:
        text = ngettext(
            "This account is locked after too many failed sign-ins. Try again in %(n)d minute,"
            " or ask an admin to unlock it.",
            "This account is locked after too many failed sign-ins. Try again in %(n)d minutes,"
            " or ask an admin to unlock it.",
            refusal.minutes,
        )
    return text % {"n": refusal.minutes}


_WHY = {
    "expired": gettext_lazy("Your session expired. Log in again."),
    "second-step": gettext_lazy("Log in here, then enter the code from your app."),
    "everywhere": gettext_lazy("You were logged out everywhere."),
}


def _login_page(request: HttpRequest, error: str = "", status: int = 200) -> HttpResponse:
    why = _WHY.get(request.GET.get("why", ""))
    context = {
        "error": error,
        "notice": why or "",
        "next": request.POST.get("next") or request.GET.get("next", ""),
        "username": request.POST.get("username", ""),
    }
    return render(request, "registration/login.html", context, status=status)


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    """The first step: a username and a password, refused while the account is locked or the
    address throttled (before the password is checked: a locked account cannot be guessed)."""
    if request.method != "POST":
        return _login_page(request)
    username = request.POST.get("username", "")
    address = _address(request)
    refusal = login_guard.login_refusal(username, address)
    if refusal is not None:
        return _login_page(request, _refusal_text(refusal), status=429)
    user = authenticate(request, username=username, password=request.POST.get("password", ""))
    if not isinstance(user, User):
        login_guard.record_login_failure(username, address)
        refusal = login_guard.login_refusal(username, address)
        text = _refusal_text(refusal) if refusal else _("Wrong username or password.")
        return _login_page(request, text, status=429 if refusal else 400)
    target = _next(request, request.POST.get("next", ""))
    if two_factor.has_two_factor(user):
        request.session.cycle_key()
        request.session[PENDING] = {"user": user.pk, "at": int(time.time()), "next": target}
        return redirect("login_verify")
    login(request, user)  # the session is stamped by `login_guard.stamp_new_session`
    login_guard.clear_login_failures(username)
    return redirect(target)


def _pending_user(request: HttpRequest) -> tuple[User, str] | None:
    pending: dict[str, Any] | None = request.session.get(PENDING)
    if not pending or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    user = User.objects.filter(pk=int(pending.get("user", 0)), is_active=True).first()
    return (user, str(pending.get("next", ""))) if user is not None else None


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def login_verify(request: HttpRequest) -> HttpResponse:
    """The second step: a code from the app, or a recovery code (each works once)."""
    pending = _pending_user(request)
    if pending is None:
        request.session.pop(PENDING, None)
        return redirect(f"{settings.LOGIN_URL}?why=expired")
    user, target = pending
    error = ""
    status = 200
    if request.method == "POST":
        address = _address(request)
        refusal = login_guard.login_refusal(user.username, address)
        code = request.POST.get("code", "")
        method = None if refusal else two_factor.verify_second_factor(user, code)
        if method is not None:
            del request.session[PENDING]
            login(request, user)
            login_guard.clear_login_failures(user.username)
            login_guard.start_session(request.session, second_step="verified")
            return redirect(_next(request, target))
        if refusal is None:
            login_guard.record_login_failure(user.username, address)
            refusal = login_guard.login_refusal(user.username, address)
        if refusal is not None:
            # Locked now: start again from the password, once the lock lifts.
            del request.session[PENDING]
            return _login_page(request, _refusal_text(refusal), status=429)
        error, status = _("This code is not valid. Try again."), 400
    return render(request, "accounts/login_verify.html", {"error": error}, status=status)


def _me(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@login_required
def security(request: HttpRequest) -> HttpResponse:
    """One's own security: two-factor sign-in (enrolment starts here), recovery codes and
    "log out everywhere"."""
    user = _me(request)
    enrolled = two_factor.has_two_factor(user)
    context: dict[str, Any] = {
        "enrolled": enrolled,
        "required": two_factor.two_factor_required(user),
        "codes_left": two_factor.remaining_recovery_codes(user) if enrolled else 0,
        "disabled": request.GET.get("disabled") == "1",
    }
    if not enrolled:
        device = two_factor.start_enrolment(user)
        context |= {"qr": two_factor.qr_svg(device), "key": two_factor.manual_key(device)}
    return render(request, "accounts/security.html", context)


@require_POST
@login_required
@sensitive_post_parameters("code")
def confirm(request: HttpRequest) -> HttpResponse:
    """The first code from the app turns two-factor sign-in on. This session counts as
    verified; every other session of the user ends (one opened with a stolen password would
    otherwise stay open)."""
    user = _me(request)
    try:
        codes = two_factor.confirm_enrolment(user, request.POST.get("code", ""))
    except ValidationError as exc:
        device = two_factor.start_enrolment(user)
        context = {
            "enrolled": False,
            "required": two_factor.two_factor_required(user),
            "confirm_error": " ".join(exc.messages),
            "qr": two_factor.qr_svg(device),
            "key": two_factor.manual_key(device),
        }
        return render(request, "accounts/security.html", context, status=400)
    login_guard.log_out_everywhere(user)
    update_session_auth_hash(request, user)
    login_guard.start_session(request.session, second_step="verified")
    return _show_codes(request, codes, just_enrolled=True)


def _show_codes(request: HttpRequest, codes: list[str], *, just_enrolled: bool) -> HttpResponse:
    context = {"codes": codes, "just_enrolled": just_enrolled}
    response = render(request, "accounts/recovery_codes.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def regenerate(request: HttpRequest) -> HttpResponse:
    user = _me(request)
    if not two_factor.has_two_factor(user):
        return redirect("accounts:security")
    return _show_codes(request, two_factor.regenerate_recovery_codes(user), just_enrolled=False)


@require_POST
@login_required
@sensitive_post_parameters("password")
def disable(request: HttpRequest) -> HttpResponse:
    user = _me(request)
    try:
        two_factor.disable_two_factor(user, password=request.POST.get("password", ""))
    except ValidationError as exc:
        context = {
            "enrolled": True,
            "required": two_factor.two_factor_required(user),
            "codes_left": two_factor.remaining_recovery_codes(user),
            "disable_error": " ".join(exc.messages),
        }
        return render(request, "accounts/security.html", context, status=400)
    request.session[login_guard.SECOND_STEP] = "none"
    return redirect("/account/security/?disabled=1")


@require_POST
@login_required
def log_out_all(request: HttpRequest) -> HttpResponse:
    """End every session of this user, this one included; API tokens stay (the page says so)."""
    login_guard.log_out_everywhere(_me(request))
    logout(request)
    return redirect(f"{settings.LOGIN_URL}?why=everywhere")


@login_required
@require_POST
def set_availability(request: HttpRequest) -> HttpResponse:
    """The header's switch: Available / Away for the live chat; back to the page it was on."""
    user = request.user
    assert isinstance(user, User)
    availability.set_availability(user, available=request.POST.get("available") == "1")
    return redirect(_next(request, request.POST.get("next", "")))
