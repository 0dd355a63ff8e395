"""Each request speaks the user's language and shows times in their timezone; sessions expire
and owe their second step (`SessionGuardMiddleware`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone, translation

from comptoir.accounts import login_guard, two_factor

if TYPE_CHECKING:
    from comptoir.accounts.models import User


class UserPreferencesMiddleware:
    """After authentication: a language chosen in the profile wins over the browser's (which
    LocaleMiddleware applied), and dates are rendered in the user's timezone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            language = getattr(user, "language", "")
            if language:
                translation.activate(language)
                request.LANGUAGE_CODE = language
            try:
                timezone.activate(ZoneInfo(getattr(user, "timezone", "") or "UTC"))
            except (ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)


# Pages a signed-in user who owes enrolment may still open.
_ENROLMENT_PATHS = ("/account/security/", "/logout/", "/i18n/", "/static/", "/login/")


def _to_login(request: HttpRequest, why: str) -> HttpResponse:
    url = f"{settings.LOGIN_URL}?{urlencode({'why': why})}"
    if request.headers.get("HX-Request"):
        # htmx would swap the login page into a fragment: have it load the page instead.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


class SessionGuardMiddleware:
    """After authentication, before any view:
    - a session past its idle or absolute limit ends (login page: "your session expired");
    - a session that skipped the second step its user owes (one opened by another login form,
      such as the admin site's: stamped "owed" at sign-in) ends: no other door bypasses it;
    - an owner or admin who must use two-factor sign-in and has not enrolled yet sees only the
      enrolment page.
    What it learns is kept in the session, so a steady session costs no query."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            refused = self._check(request, user)
            if refused is not None:
                return refused
        return self.get_response(request)

    def _check(self, request: HttpRequest, user: User) -> HttpResponse | None:
        session = request.session
        if login_guard.session_expired(session):
            logout(request)
            return _to_login(request, "expired")
        step = session.get(login_guard.SECOND_STEP)
        if step is None:
            # A session from before these stamps: checked once, then remembered.
            owed = two_factor.has_two_factor(user)
            step = session[login_guard.SECOND_STEP] = "owed" if owed else "none"
        if step == "owed":
            # Signed in by another door than our login page (the admin site's form...).
            logout(request)
            return _to_login(request, "second-step")
        if (
            step != "verified"
            and two_factor.two_factor_required(user)
            and not request.path.startswith(_ENROLMENT_PATHS)
        ):
            if request.path.startswith("/api/"):
                return HttpResponse(status=403)
            return redirect("accounts:security")
        return None
