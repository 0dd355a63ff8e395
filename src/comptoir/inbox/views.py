"""The agent's inbox and conversation pages. Thin: scope from `accounts.permissions`, queries
from `inbox.queries`, every change through `inbox.actions`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from comptoir.accounts.models import User
from comptoir.accounts.permissions import can_write, visible_channels, visible_conversations
from comptoir.inbox import actions
from comptoir.inbox.live import last_event_id
from comptoir.inbox.models import Conversation, Marketplace, Priority, Status
from comptoir.inbox.queries import ORDERS, InvalidCursor, KeysetOrder, filter_conversations, page

PAGE_SIZE = 50
BREACHING_WITHIN = timedelta(hours=4)


@dataclass(frozen=True)
class InboxView:
    key: str
    label: Any
    order: KeysetOrder

    def apply(self, qs: QuerySet[Conversation], user: User) -> QuerySet[Conversation]:
        now = timezone.now()
        live = ~Q(status=Status.RESOLVED)
        match self.key:
            case "needs_reply":
                return qs.filter(needs_reply=True).exclude(status=Status.SNOOZED)
            case "mine":
                return qs.filter(live, assignee=user)
            case "unassigned":
                return qs.filter(live, assignee__isnull=True)
            case "breaching":
                return qs.filter(needs_reply=True, respond_by__lt=now + BREACHING_WITHIN)
            case "snoozed":
                return qs.filter(status=Status.SNOOZED)
            case "resolved":
                return qs.filter(status=Status.RESOLVED)
        return qs


VIEWS = {
    v.key: v
    for v in [
        InboxView("needs_reply", _("Needs reply"), ORDERS["respond_by"]),
        InboxView("mine", _("Mine"), ORDERS["recent"]),
        InboxView("unassigned", _("Unassigned"), ORDERS["recent"]),
        InboxView("breaching", _("Breaching soon"), ORDERS["respond_by"]),
        InboxView("snoozed", _("Snoozed"), ORDERS["recent"]),
        InboxView("resolved", _("Resolved"), ORDERS["recent"]),
        InboxView("all", _("All"), ORDERS["recent"]),
    ]
}
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
        rows, next_cursor = page(qs, view.order, request.GET.get("cursor"), PAGE_SIZE)
    except (ValidationError, InvalidCursor) as exc:
        return render(
            request, "inbox/inbox.html", {"error": exc, **_chrome(request, view)}, status=400
        )
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


COUNT_CAP = 1000  # past it the nav says "1000+": an exact count of a huge view is slow


def _counts(user: User) -> dict[str, str]:
    base = visible_conversations(user)
    counts = {}
    for key, view in VIEWS.items():
        n = view.apply(base, user)[: COUNT_CAP + 1].count()
        counts[key] = f"{COUNT_CAP}+" if n > COUNT_CAP else str(n)
    return counts


def _chrome(request: HttpRequest, view: InboxView) -> dict[str, Any]:
    user = _user(request)
    counts = _counts(user)
    return {
        "view": view,
        "views": [(v, counts[v.key]) for v in VIEWS.values()],
        "can_write": can_write(user),
        "channels": visible_channels(user).order_by("name"),
        "marketplaces": Marketplace.choices,
        "statuses": Status.choices,
    }


BULK_ACTIONS = ("assign_me", "resolve", "reopen")


@login_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """One action on the selected conversations (those the user may see; others are ignored)."""
    user = _user(request)
    if not can_write(user):
        raise PermissionDenied("read-only access")
    action = request.POST.get("action", "")
    if action not in BULK_ACTIONS:
        raise PermissionDenied(f"unknown bulk action {action!r}")
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()][:PAGE_SIZE]
    for conv in visible_conversations(user).filter(pk__in=ids).order_by("id"):
        if action == "assign_me":
            actions.assign_conversation(conv, assignee=user, actor=user)
        elif action == "resolve":
            actions.set_status(conv, status=Status.RESOLVED, actor=user)
        else:
            actions.set_status(conv, status=Status.OPEN, actor=user)
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
