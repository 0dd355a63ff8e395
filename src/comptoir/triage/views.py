"""The agent's one-click corrections of triage's reading, from the conversation page. Thin:
the lookup is `inbox.permissions`' (404 not visible, 403 read-only), the change is
`triage.actions.correct` (kept as training data)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from comptoir.accounts.models import User
from comptoir.accounts.permissions import can_write
from comptoir.inbox.permissions import conversation_for, visible_conversations
from comptoir.triage.actions import FIELDS, correct
from comptoir.triage.panel import latest_inbound, reading_panel


@login_required
@require_POST
def correct_reading(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct the intent, urgency or sentiment of the conversation's latest buyer message
    (the conversation takes it); htmx gets the Reading panel back, a plain form the page."""
    user = request.user
    assert isinstance(user, User)
    conv = conversation_for(user, pk, write=True, qs=visible_conversations(user))
    field, value = request.POST.get("field", ""), request.POST.get("value", "")
    message = latest_inbound(conv)
    if field not in FIELDS or message is None:
        return _plain("nothing to correct here" if message is None else f"no field {field!r}")
    try:
        correct(message, field=field, value=value, actor=user)
    except ValidationError as exc:
        return _plain("; ".join(exc.messages))
    if request.htmx:  # type: ignore[attr-defined]
        conv.refresh_from_db()
        context = {"reading": reading_panel(conv), "can_write": can_write(user), "conv": conv}
        return render(request, "triage/_reading.html", context)
    return redirect(reverse("inbox:conversation", args=[conv.pk]))


def _plain(text: str) -> HttpResponse:
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
