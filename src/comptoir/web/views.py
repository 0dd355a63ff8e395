"""The pages outside the inbox: a health check, the landing page, the language switch and the
user's own profile."""

from __future__ import annotations

import logging
from zoneinfo import available_timezones

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.i18n import set_language

from comptoir.accounts import actions
from comptoir.accounts.models import User

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers; 503 otherwise (for load balancers and `comptoir serve`)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        # Anyone may ask: the reason (hosts, users, paths) goes to the log, not the answer.
        logger.exception("healthz: the database does not answer")
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": connection.vendor})


def home(request: HttpRequest) -> HttpResponse:
    return redirect("inbox:inbox")


@require_POST
def switch_language(request: HttpRequest) -> HttpResponse:
    """The header's language buttons: remembered in the profile of a logged-in user (which wins
    over the browser's language from then on), in a cookie otherwise."""
    user = request.user
    code = request.POST.get("language", "")
    if isinstance(user, User) and user.is_authenticated and code in dict(settings.LANGUAGES):
        actions.update_profile(user, language=code)
    return set_language(request)


# Offered in the profile; sorted once per process (there are about 600).
TIMEZONES = sorted(available_timezones())


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    error = None
    if request.method == "POST":
        try:
            actions.update_profile(
                user,
                first_name=request.POST.get("first_name", ""),
                last_name=request.POST.get("last_name", ""),
                language=request.POST.get("language", ""),
                timezone=request.POST.get("timezone", ""),
                keyboard_shortcuts=request.POST.get("keyboard_shortcuts") == "on",
            )
        except ValidationError as exc:
            error = "; ".join(exc.messages)
        else:
            return redirect("profile")
    context = {
        "timezones": TIMEZONES,
        "error": error,
        "changed": request.GET.get("changed") == "1",
    }
    return render(request, "web/profile.html", context, status=400 if error else 200)
