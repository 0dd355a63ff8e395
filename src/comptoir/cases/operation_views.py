"""The case panel's forms that tell the marketplace: answer the claim, refund, close it, accept
or refuse a return, retry a failed step. Thin: lookups among the cases the user may see, every
change through `cases.operations` (which refuses an actor who may not change the conversation)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from comptoir.accounts.permissions import find_visible
from comptoir.cases import operations
from comptoir.cases.models import CaseOperation
from comptoir.cases.queries import visible_cases
from comptoir.cases.views import _back, _case, _refused, _user


@login_required
@require_POST
def answer(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case(request, pk)
    try:
        operations.answer_claim(case, text=request.POST.get("text", ""), actor=_user(request))
    except ValidationError as exc:
        return _refused(request, case.conversation_id, exc)
    return _back(case)


@login_required
@require_POST
def refund(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case(request, pk)
    try:
        operations.refund_claim(
            case,
            amount=request.POST.get("amount", "").strip() or None,
            currency=request.POST.get("currency", ""),
            text=request.POST.get("text", ""),
            actor=_user(request),
        )
    except ValidationError as exc:
        return _refused(request, case.conversation_id, exc)
    return _back(case)


@login_required
@require_POST
def close_claim(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case(request, pk)
    try:
        operations.close_claim(case, text=request.POST.get("text", ""), actor=_user(request))
    except ValidationError as exc:
        return _refused(request, case.conversation_id, exc)
    return _back(case)


@login_required
@require_POST
def return_decision(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case(request, pk)
    try:
        operations.decide_return(
            case,
            accept=request.POST.get("decision") == "accept",
            reason=request.POST.get("reason", ""),
            actor=_user(request),
        )
    except ValidationError as exc:
        return _refused(request, case.conversation_id, exc)
    return _back(case)


@login_required
@require_POST
def retry(request: HttpRequest, pk: int) -> HttpResponse:
    visible = CaseOperation.objects.filter(case__in=visible_cases(_user(request)))
    op = find_visible(visible.select_related("case"), pk)
    try:
        operations.retry_operation(op, actor=_user(request))
    except ValidationError as exc:
        return _refused(request, op.case.conversation_id, exc)
    return _back(op.case)
