"""The trash: conversations deleted by an agent, kept for COMPTOIR_DELETED_RETENTION_DAYS, then
purged with their files. Owners and admins see them here and restore them (the same action as
the API's `POST /conversations/{id}/restore`)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from comptoir.accounts.models import User
from comptoir.accounts.permissions import find_visible, require
from comptoir.inbox import actions
from comptoir.inbox.models import Event, EventKind
from comptoir.inbox.permissions import can_manage_trash, trash
from comptoir.inbox.queries import InvalidCursor, KeysetOrder, page

TRASH_PAGE = 50
_TRASH_ORDER = KeysetOrder("trash", "deleted_at", descending=True)


def _trash_user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return require(user, can_manage_trash, "the trash is for owners and admins")


@login_required
def trash_list(request: HttpRequest) -> HttpResponse:
    """Deleted conversations, the most recently deleted first, with who deleted them and when
    they will be purged."""
    user = _trash_user(request)
    deleted_by = Event.objects.filter(conversation=OuterRef("pk"), kind=EventKind.DELETED)
    rows = (
        trash(user)
        .select_related("channel", "customer")
        .annotate(deleted_by=Subquery(deleted_by.order_by("-pk").values("actor__username")[:1]))
    )
    try:
        convs, next_cursor = page(rows, _TRASH_ORDER, request.GET.get("cursor"), TRASH_PAGE)
    except InvalidCursor as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    retention = timedelta(days=settings.DELETED_RETENTION_DAYS)
    for conv in convs:
        conv.purge_after = conv.deleted_at + retention  # type: ignore[attr-defined,operator]
    context = {
        "conversations": convs,
        "next_cursor": next_cursor,
        "first_page": not request.GET.get("cursor"),
        "retention_days": settings.DELETED_RETENTION_DAYS,
    }
    return render(request, "web/trash.html", context)


@login_required
@require_POST
def trash_restore(request: HttpRequest, pk: int) -> HttpResponse:
    user = _trash_user(request)
    conv = find_visible(trash(user), pk)
    back = redirect(reverse("settings:trash"))
    try:
        actions.restore_conversation(conv, actor=user)
    except ValidationError:
        # The one refusal left: the buyer wrote again on this thread after the deletion.
        messages.error(
            request,
            _(
                "Conversation %(number)s cannot be restored: a newer conversation continues "
                "its thread."
            )
            % {"number": conv.pk},
        )
        return back
    messages.success(
        request,
        _("Conversation %(number)s is back in the inbox.") % {"number": conv.pk},
    )
    return back
