"""The agent's inbox and conversation pages. Thin: scope from `accounts.permissions`, queries
from `inbox.queries`, every change through `inbox.actions`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from comptoir.accounts.models import User
from comptoir.accounts.permissions import can_write, visible_channels, visible_conversations
from comptoir.inbox import actions
from comptoir.inbox.live import last_event_id
from comptoir.inbox.models import Conversation, Marketplace, Priority, Status
from comptoir.inbox.queries import (
    ORDERS,
    VIEWS,
    InboxView,
    InvalidCursor,
    filter_conversations,
    page,
    view_counts,
)

PAGE_SIZE = 50


FILTERS = ("channel", "marketplace", "status", "assignee", "tag", "q")


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    view = VIEWS.get(request.GET.get("view", ""), VIEWS["needs_reply"])
    params = {name: request.GET.get(name, "").strip() for name in FILTERS}
    qs = (
        visible_conversations(user)
        .select_related("channel", "customer", "assignee")
        .prefetch_related("tags")
    )
    qs = view.apply(qs, user)
    if params["marketplace"]:
        qs = qs.filter(channel__marketplace=params["marketplace"])
    try:
        qs = filter_conversations(
            qs,
            user,
            status=params["status"] or None,
            channel=int(params["channel"]) if params["channel"].isdigit() else None,
            assignee=params["assignee"] or None,
            tag=params["tag"] or None,
            q=params["q"] or None,
        )
        # A search lists newest first, whatever the view's own order.
        order = ORDERS["recent"] if params["q"] else view.order
        rows, next_cursor = page(qs, order, request.GET.get("cursor"), PAGE_SIZE)
    except (ValidationError, InvalidCursor) as exc:
        return render(
            request, "inbox/inbox.html", {"error": exc, **_chrome(request, view)}, status=400
        )
    _set_urls(rows)
    kept = {k: v for k, v in {"view": view.key, **params}.items() if v}
    more = f"?{urlencode({**kept, 'cursor': next_cursor})}" if next_cursor else ""
    context = {
        "rows": rows,
        "more": more,
        "params": params,
        "now": timezone.now(),
        "last_event": last_event_id(),
    }
    if request.htmx and request.GET.get("cursor"):  # type: ignore[attr-defined]
        return render(request, "inbox/_rows.html", context)
    return render(request, "inbox/inbox.html", {**context, **_chrome(request, view)})


_PLACEHOLDER = 987654321


def _set_urls(rows: list[Conversation]) -> None:
    """Each row's link, from one `reverse` per page instead of two per row (a tenth of the
    rendering time of a 50-row page)."""
    pattern = reverse("inbox:conversation", args=[_PLACEHOLDER])
    for conv in rows:
        conv.url = pattern.replace(str(_PLACEHOLDER), str(conv.pk))  # type: ignore[attr-defined]


def _chrome(request: HttpRequest, view: InboxView) -> dict[str, Any]:
    user = _user(request)
    counts = view_counts(user)
    return {
        "view": view,
        "views": [(v, counts[v.key]) for v in VIEWS.values()],
        "can_write": can_write(user),
        "channels": visible_channels(user).order_by("name"),
        "marketplaces": Marketplace.choices,
        "statuses": Status.choices,
    }


# The buttons of the inbox's bulk bar, as `actions.bulk_apply` calls.
BULK_BUTTONS: dict[str, tuple[str, dict[str, Any]]] = {
    "assign_me": ("assign", {}),
    "resolve": ("set_status", {"status": Status.RESOLVED}),
    "reopen": ("set_status", {"status": Status.OPEN}),
}


@login_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """One action on the selected conversations (those the user may see; others are ignored)."""
    user = _user(request)
    if not can_write(user):
        raise PermissionDenied("read-only access")
    button = BULK_BUTTONS.get(request.POST.get("action", ""))
    if button is None:
        raise PermissionDenied("unknown bulk action")
    action, kwargs = button
    if action == "assign":
        kwargs = {"assignee": user}
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()][:PAGE_SIZE]
    selected = visible_conversations(user).filter(pk__in=ids).order_by("id")
    actions.bulk_apply(action, selected, actor=user, **kwargs)
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/inbox/") else reverse("inbox:inbox"))


def _conversation(request: HttpRequest, pk: int) -> Conversation:
    qs = visible_conversations(_user(request)).select_related(
        "channel", "customer", "assignee", "order"
    )
    return get_object_or_404(qs, pk=pk)


@login_required
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _conversation(request, pk)
    messages = conv.messages.select_related("author").prefetch_related("attachments")
    events = conv.events.select_related("actor").order_by("created_at", "id")
    timeline = sorted(
        [("message", m.created_at, m) for m in messages]
        + [("event", e.created_at, e) for e in events if e.kind not in _SHOWN_AS_MESSAGES],
        key=lambda item: (item[1], item[0] == "message"),
    )
    return render(
        request,
        "inbox/conversation.html",
        {
            "conv": conv,
            "timeline": timeline,
            "tags": sorted(t.name for t in conv.tags.all()),
            "can_write": can_write(_user(request)),
            "statuses": Status.choices,
            "priorities": Priority.choices,
            "last_event": last_event_id(),
        },
    )


# Events whose message already stands in the timeline.
_SHOWN_AS_MESSAGES = {"message_received", "replied", "note_added"}


def _writable(request: HttpRequest, pk: int) -> Conversation:
    if not can_write(_user(request)):
        raise PermissionDenied("read-only access")
    return _conversation(request, pk)


@login_required
@require_POST
def reply(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _writable(request, pk)
    text = request.POST.get("text", "").strip()
    then = request.POST.get("then", "")
    if text:
        if request.POST.get("mode") == "note":
            actions.add_note(conv, actor=_user(request), text=text)
        else:
            actions.reply(
                conv,
                actor=_user(request),
                text=text,
                then_status=Status.RESOLVED if then == "resolve" else None,
            )
    return redirect(reverse("inbox:conversation", args=[conv.pk]))


@login_required
@require_POST
def assign_me(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _writable(request, pk)
    actions.assign_conversation(conv, assignee=_user(request), actor=_user(request))
    return redirect(reverse("inbox:conversation", args=[conv.pk]))


@login_required
@require_POST
def set_status(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _writable(request, pk)
    status = request.POST.get("status", "")
    if status in Status.values:
        actions.set_status(conv, status=status, actor=_user(request))
    return redirect(reverse("inbox:conversation", args=[conv.pk]))


@login_required
@require_POST
def tag(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _writable(request, pk)
    name = request.POST.get("tag", "").strip()
    if name:
        actions.tag_conversation(conv, tag=name, actor=_user(request))
    return redirect(reverse("inbox:conversation", args=[conv.pk]))


@login_required
@require_POST
def priority(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _writable(request, pk)
    value = request.POST.get("priority", "")
    if value.isdigit() and int(value) in Priority.values:
        actions.set_priority(conv, priority=int(value), actor=_user(request))
    return redirect(reverse("inbox:conversation", args=[conv.pk]))


@login_required
@require_POST
def snooze(request: HttpRequest, pk: int) -> HttpResponse:
    """Snooze until a date and time given in the user's own timezone."""
    conv = _writable(request, pk)
    user = _user(request)
    raw = request.POST.get("until", "")
    try:
        naive = datetime.fromisoformat(raw)
        until = timezone.make_aware(naive, ZoneInfo(user.timezone or "UTC"))
        actions.snooze_conversation(conv, until=until, actor=user)
    except (ValueError, ValidationError, ZoneInfoNotFoundError) as exc:
        return HttpResponse(f"Cannot snooze: {exc}", status=400)
    return redirect(reverse("inbox:conversation", args=[conv.pk]))
