"""The inbox's bulk bar: one change to the selected conversations, confirmed with a count and
undone as one. Thin: each change is `actions.bulk_apply` (each conversation checked by its
action), and the undo applies the previous values through the same actions."""

from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_POST

from comptoir.accounts.models import Team, User
from comptoir.inbox import actions
from comptoir.inbox.bar_views import snooze_until
from comptoir.inbox.models import Conversation, Priority, Status
from comptoir.inbox.permissions import cannot_assign, visible_conversations
from comptoir.inbox.toasts import toast

# At most one page of rows is selected.
MAX_SELECTED = 50
UNDO_KEY = "comptoir_bulk_undo"

# The bar's buttons: (bulk action, fixed arguments); the others read their value from the form.
FIXED: dict[str, tuple[str, dict[str, Any]]] = {
    "resolve": ("set_status", {"status": Status.RESOLVED}),
    "reopen": ("set_status", {"status": Status.OPEN}),
    "archive": ("archive", {}),
}


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _number(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _arguments(request: HttpRequest, button: str) -> tuple[str, dict[str, Any]]:
    """The bulk action and its arguments for the button pressed, from the bar's fields."""
    post = request.POST
    if button in FIXED:
        return FIXED[button]
    if button == "assign_me":
        return "assign", {"assignee": _user(request)}
    if button == "assign":
        raw = post.get("assignee", "")
        assignee = User.objects.filter(pk=_number(raw) or 0).first() if raw else None
        if raw and assignee is None:
            raise cannot_assign(raw)
        return "assign", {"assignee": assignee}
    if button == "team":
        team = Team.objects.filter(pk=_number(post.get("team", "")) or 0).first()
        return "assign_team", {"team_id": team.pk if team else None}
    if button == "tag" and post.get("tag", "").strip():
        return "tag", {"tag": post["tag"].strip()[:64]}
    if button == "status" and post.get("status") in (Status.OPEN, Status.PENDING, Status.RESOLVED):
        return "set_status", {"status": post["status"]}
    if button == "priority" and (_number(post.get("priority", "")) in Priority.values):
        return "set_priority", {"priority": int(post["priority"])}
    if button == "snooze":
        return "snooze", {"until": snooze_until(post.get("until", ""))}
    raise ValidationError(gettext("Choose what to change"))


def _previous(action: str, conv: Conversation, kwargs: dict[str, Any]) -> Any:
    """What undoing the action on this conversation puts back."""
    if action == "assign":
        return conv.assignee_id
    if action == "assign_team":
        return conv.team_id
    if action == "set_priority":
        return conv.priority
    if action == "tag":
        return conv.tags.filter(name=kwargs["tag"]).exists()
    if action == "archive":
        return conv.archived
    until = conv.snoozed_until.isoformat() if conv.snoozed_until else None
    return [conv.status, until]


@login_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """One change on the selected conversations (those the user may see; others are ignored).
    The action decides who may (a read-only user: 403 before anything changes)."""
    user = _user(request)
    back = request.POST.get("next", "")
    back = back if back.startswith("/inbox/") else reverse("inbox:inbox")
    try:
        # A menu's button names its action in its formaction (the form has one `action` field).
        button = request.POST.get("action") or request.GET.get("action", "")
        action, kwargs = _arguments(request, button)
    except ValidationError as exc:
        toast(request, "; ".join(exc.messages), level="error")
        return redirect(back)
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()][:MAX_SELECTED]
    selected = list(visible_conversations(user).filter(pk__in=ids).order_by("id"))
    previous = {conv.pk: _previous(action, conv, kwargs) for conv in selected}
    result = actions.bulk_apply(action, selected, actor=user, **kwargs)
    token = secrets.token_urlsafe(8)
    request.session[UNDO_KEY] = {
        "token": token,
        "action": action,
        "kwargs": {"tag": kwargs["tag"]} if action == "tag" else {},
        "previous": {str(pk): previous[pk] for pk in result.done},
    }
    n = len(result.done)
    text = ngettext("%(n)d conversation changed", "%(n)d conversations changed", n) % {"n": n}
    if result.failed:
        text += " · " + gettext("%(n)d refused") % {"n": len(result.failed)}
    undo = {"token": token, "next": back} if n else None
    toast(request, text, undo_url=reverse("inbox:bulk_undo"), undo=undo)
    return redirect(back)


def _undo_groups(saved: dict[str, Any]) -> dict[Any, list[int]]:
    groups: dict[Any, list[int]] = defaultdict(list)
    for pk, value in saved["previous"].items():
        groups[tuple(value) if isinstance(value, list) else value].append(int(pk))
    return groups


def _reverse(action: str, value: Any, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The bulk action that puts `value` back."""
    if action == "assign":
        return "assign", {"assignee": User.objects.filter(pk=value).first() if value else None}
    if action == "assign_team":
        return "assign_team", {"team_id": value}
    if action == "set_priority":
        return "set_priority", {"priority": value}
    if action == "tag":
        return ("tag" if value else "untag"), {"tag": kwargs["tag"]}
    if action == "archive":
        return "archive", {"archived": bool(value)}
    status, until = value
    if status == Status.SNOOZED and until:
        when = datetime.fromisoformat(until)
        if when > timezone.now():
            return "snooze", {"until": when}
    return "set_status", {"status": Status.OPEN if status == Status.SNOOZED else status}


@login_required
@require_POST
def bulk_undo(request: HttpRequest) -> HttpResponse:
    """Put back what the last bulk change replaced, conversation by conversation."""
    user = _user(request)
    back = request.POST.get("next", "")
    back = back if back.startswith("/inbox/") else reverse("inbox:inbox")
    saved = request.session.get(UNDO_KEY)
    if not saved or saved["token"] != request.POST.get("token"):
        raise PermissionDenied("nothing to undo")
    del request.session[UNDO_KEY]
    undone = 0
    for value, ids in _undo_groups(saved).items():
        action, kwargs = _reverse(saved["action"], value, saved["kwargs"])
        convs = visible_conversations(user).filter(pk__in=ids).order_by("id")
        undone += len(actions.bulk_apply(action, convs, actor=user, **kwargs).done)
    text = ngettext("%(n)d conversation put back", "%(n)d conversations put back", undone)
    toast(request, text % {"n": undone})
    return redirect(back)
