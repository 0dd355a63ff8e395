"""The case pages: the list of open cases (by deadline; by marketplace, kind, stage) and the
conversation panel's forms. Thin: lookups among what the user may see, every change through
`cases.actions` (which refuse an actor who may not change the conversation)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from comptoir.accounts.models import User
from comptoir.accounts.permissions import find_visible
from comptoir.cases import actions, overview
from comptoir.cases.models import Case, Stage
from comptoir.cases.queries import case_list, due_html, visible_cases
from comptoir.inbox.models import Marketplace
from comptoir.inbox.permissions import conversation_for
from comptoir.lib import cases as words
from comptoir.lib.dates import parse_moment


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
def case_index(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    params = {name: request.GET.get(name, "").strip() for name in ("marketplace", "kind", "stage")}
    if params["marketplace"] not in Marketplace.values:
        params["marketplace"] = ""
    if params["kind"] not in words.KINDS:
        params["kind"] = ""
    if params["stage"] not in Stage.values:
        params["stage"] = ""
    now = timezone.now()
    cases = list(case_list(user, **params))
    for case in cases:
        case.due = due_html(case.deadline, now)  # type: ignore[attr-defined]
    group = request.GET.get("group", "")
    group = group if group in overview.GROUPS else "deadline"
    return render(
        request,
        "cases/list.html",
        {
            "cases": cases,
            "params": params,
            "marketplaces": Marketplace.choices,
            "kinds": list(words.KINDS.items()),
            "stages": Stage.choices,
            # The overview: counts per marketplace and kind, and the rows in groups.
            "group": group,
            "group_choices": list(overview.GROUPS.items()),
            "groups": overview.grouped(cases, group, now),
            "facets": overview.facets(visible_cases(user), **params),
        },
    )


def _back(case: Case) -> HttpResponse:
    return redirect(reverse("inbox:conversation", args=[case.conversation_id]) + "#cases")


def _case(request: HttpRequest, pk: int) -> Case:
    return find_visible(visible_cases(_user(request)), pk)


def _refused(request: HttpRequest, conversation_pk: int, exc: ValidationError) -> HttpResponse:
    return render(
        request,
        "cases/refused.html",
        {"errors": exc.messages, "conversation_pk": conversation_pk},
        status=400,
    )


@login_required
@require_POST
def open_case(request: HttpRequest, conversation_pk: int) -> HttpResponse:
    user = _user(request)
    conv = conversation_for(user, conversation_pk)
    try:
        case = actions.open_case(conv, kind=request.POST.get("kind", ""), actor=user)
    except ValidationError as exc:
        return _refused(request, conv.pk, exc)
    return _back(case)


@login_required
@require_POST
def set_stage(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case(request, pk)
    try:
        actions.set_stage(case, stage=request.POST.get("stage", ""), actor=_user(request))
    except ValidationError as exc:
        return _refused(request, case.conversation_id, exc)
    return _back(case)


@login_required
@require_POST
def record_outcome(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case(request, pk)
    try:
        actions.record_outcome(
            case,
            outcome=request.POST.get("outcome", ""),
            amount=request.POST.get("amount", "").strip() or None,
            currency=request.POST.get("currency", ""),
            reason=request.POST.get("reason", ""),
            actor=_user(request),
        )
    except ValidationError as exc:
        return _refused(request, case.conversation_id, exc)
    return _back(case)


def _local(value: str) -> datetime | None:
    """A day and time field's value (dd/mm/yyyy hh:mm in French, or ISO), in the user's
    timezone."""
    try:
        found: datetime | None = parse_moment(value) if value else None
    except ValueError:
        found = parse_datetime(value) if value else None
    if found is not None and timezone.is_naive(found):
        found = timezone.make_aware(found)
    return found


@login_required
@require_POST
def set_deadline(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case(request, pk)
    raw = request.POST.get("deadline", "").strip()
    deadline = _local(raw)
    if raw and deadline is None:
        return _refused(request, case.conversation_id, ValidationError(f"{raw!r}: no date"))
    actions.set_deadline(case, deadline=deadline, actor=_user(request))
    return _back(case)


@login_required
@require_POST
def close_case(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case(request, pk)
    actions.close(case, actor=_user(request))
    return _back(case)
