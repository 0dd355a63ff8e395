"""The public answer page (/s/<signed token>/: no login, plain form, no script) and the
settings page (owners and admins). Thin: the work is in `actions`."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from comptoir.accounts.models import User
from comptoir.accounts.permissions import can_manage_channels, require
from comptoir.inbox.models import Channel
from comptoir.surveys import actions, policy, texts
from comptoir.surveys.models import Survey, SurveyKind, SurveySettings

# -- the buyer's page ---------------------------------------------------------------------------


def _find(request: HttpRequest, token: str) -> Survey | HttpResponse:
    try:
        return actions.survey_for_token(token)
    except actions.SurveyExpired as exc:
        t = texts.PAGE[texts.language_for(exc.language)]
        context = {"t": t, "state": "expired", "language": texts.language_for(exc.language)}
        return render(request, "surveys/page.html", context, status=410)
    except Survey.DoesNotExist:
        raise Http404("no such survey") from None


def _page(
    request: HttpRequest,
    survey: Survey,
    *,
    state: str,
    status: int = 200,
    chosen: int | None = None,
) -> HttpResponse:
    t = texts.PAGE[texts.language_for(survey.language)]
    csat = survey.kind == SurveyKind.CSAT
    can_comment = survey.answered_at is None or (
        timezone.now() - survey.answered_at <= actions.COMMENT_WINDOW
    )
    context: dict[str, Any] = {
        "survey": survey,
        "t": t,
        "question": t[survey.kind],
        "low": t["low_csat" if csat else "low_nps"],
        "high": t["high_csat" if csat else "high_nps"],
        "scale": list(survey.scale),
        "state": state,  # "ask", "thanks" (comment offered) or "closed"
        "chosen": chosen,  # the score the link carried, preselected
        "can_comment": can_comment,
        "language": texts.language_for(survey.language),
    }
    return render(request, "surveys/page.html", context, status=status)


@require_http_methods(["GET", "POST"])
def survey_page(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the question, with the score of the link clicked in the message (?score=N)
    already chosen. POST: the score and the comment (a second post changes the comment only,
    for 7 days)."""
    found = _find(request, token)
    if isinstance(found, HttpResponse):
        return found
    survey = found
    if request.method == "GET":
        # A score in the link only preselects it: mail security scanners open every link of
        # a message, and would otherwise answer every survey with its first score.
        chosen = actions.parse_score(survey, request.GET.get("score"))
        if survey.answered_at is None:
            return _page(request, survey, state="ask", chosen=chosen)
        return _page(request, survey, state="closed")
    score = actions.parse_score(survey, request.POST.get("score"))
    try:
        survey = actions.record_answer(survey, score=score, comment=request.POST.get("comment", ""))
    except ValidationError:
        return _page(request, survey, state="ask", status=400)
    # Just sent: "thank you, recorded" (not "already recorded"), the comment open for 7 days.
    return _page(request, survey, state="thanks")


# -- settings ----------------------------------------------------------------------------------


def _admin(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return require(user, can_manage_channels, "survey settings are for owners and admins")


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw or default)
    except ValueError:
        return -1  # refused by the action with its message


def _form(request: HttpRequest) -> actions.SettingsForm:
    post = request.POST
    return actions.SettingsForm(
        enabled="enabled" in post,
        kind=post.get("kind", SurveyKind.CSAT),
        delay_hours=_int(post.get("delay_hours"), 24),
        min_days_between=_int(post.get("min_days_between"), 30),
        excluded_channel_ids=[int(v) for v in post.getlist("excluded_channels") if v.isdigit()],
        excluded_tags=post.get("excluded_tags", "").split(","),
        message_marketplaces=post.getlist("message_marketplaces"),
    )


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    user = _admin(request)
    if request.method == "POST":
        try:
            actions.save_settings(actor=user, form=_form(request))
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        else:
            messages.success(request, _("Survey settings saved."))
            return redirect("settings:surveys")
    found = SurveySettings.get()
    context = {
        "settings": found,
        "kinds": SurveyKind.choices,
        "channels": Channel.objects.order_by("name").values("pk", "name", "marketplace", "kind"),
        "excluded": set(found.excluded_channel_ids),
        "allowed": [(k, str(v)) for k, v in policy.MESSAGE_ALLOWED.items()],
        "chosen": set(found.message_marketplaces),
        "never": [str(v) for v in policy.NEVER.values()],
    }
    return render(request, "surveys/settings.html", context)
