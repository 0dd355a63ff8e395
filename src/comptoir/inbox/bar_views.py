"""The conversation's action bar: assign, team, status, snooze, priority, tags and the rest.
Thin, as the other pages: each endpoint reads the form, calls one action (which checks who may,
`inbox.permissions`), and confirms with a toast whose Undo posts the previous value back to the
same endpoint (`inbox.toasts`). Plain forms: they work without script, and the keyboard reaches
them as any button."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from comptoir.accounts.models import Team, User
from comptoir.accounts.permissions import NotVisible
from comptoir.inbox import actions
from comptoir.inbox.display import absolute_time, choice_label
from comptoir.inbox.models import Conversation, Priority, Status
from comptoir.inbox.permissions import cannot_assign, conversation_for, visible_conversations
from comptoir.inbox.toasts import toast
from comptoir.lib.dates import parse_moment


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _writable(request: HttpRequest, pk: int) -> Conversation:
    user = _user(request)
    qs = visible_conversations(user).select_related("channel", "assignee")
    return conversation_for(user, pk, write=True, qs=qs)


def _back(conv: Conversation) -> HttpResponse:
    return redirect(reverse("inbox:conversation", args=[conv.pk]))


def _url(name: str, conv: Conversation) -> str:
    return reverse(f"inbox:{name}", args=[conv.pk])


def local_input(at: datetime) -> str:
    """A time as a datetime-local field holds it, in the user's timezone."""
    return timezone.localtime(at).strftime("%Y-%m-%dT%H:%M")


def snooze_presets() -> list[tuple[str, str]]:
    """The snooze menu's usual choices, in the agent's time: the first is the composer's
    "send and snooze" default."""
    local = timezone.localtime()  # the user's timezone (accounts.middleware)
    morning = (local + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    monday = morning + timedelta(days=(7 - morning.weekday()) % 7)
    hour = (local + timedelta(hours=1)).replace(second=0, microsecond=0)
    presets = [
        (gettext("Tomorrow morning"), morning),
        (gettext("In one hour"), hour),
        (gettext("In three hours"), hour + timedelta(hours=2)),
        (gettext("Next Monday morning"), monday if monday > morning else morning),
        (gettext("In a week"), morning + timedelta(days=6)),
    ]
    return [(label, at.strftime("%Y-%m-%dT%H:%M")) for label, at in presets]


def snooze_until(raw: str) -> datetime:
    try:
        # Typed in the page's language's order, or ISO from a preset; in the user's timezone.
        return timezone.make_aware(parse_moment(raw))
    except ValueError:
        raise ValidationError("choose when the conversation comes back (date and time)") from None


def _status_undo(conv: Conversation) -> tuple[str, dict[str, str]]:
    """What puts the conversation back in its present status: a snooze needs its date again."""
    if conv.status == Status.SNOOZED and conv.snoozed_until and conv.snoozed_until > timezone.now():
        return _url("snooze", conv), {"until": local_input(conv.snoozed_until)}
    status = Status.OPEN if conv.status == Status.SNOOZED else conv.status
    return _url("status", conv), {"status": status}


def _number(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) < 19 else None


@login_required
@require_POST
def assign_me(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _writable(request, pk)
    previous = conv.assignee_id
    actions.assign_conversation(conv, assignee=_user(request), actor=_user(request))
    toast(
        request,
        gettext("Assigned to you"),
        undo_url=_url("assign", conv),
        undo={"assignee": str(previous or "")},
    )
    return _back(conv)


@login_required
@require_POST
def assign(request: HttpRequest, pk: int) -> HttpResponse:
    """Give the conversation to someone (or nobody), and/or to a team: the actions decide who
    may be given it and which teams this user may choose."""
    conv = _writable(request, pk)
    user = _user(request)
    raw = request.POST.get("assignee")
    if raw is not None:
        assignee = User.objects.filter(pk=pk_).first() if (pk_ := _number(raw)) else None
        if raw and assignee is None:
            raise cannot_assign(raw)
        previous = conv.assignee_id
        actions.assign_conversation(conv, assignee=assignee, actor=user)
        text = (
            gettext("Assigned to %(name)s") % {"name": assignee.display_name}
            if assignee
            else gettext("No longer assigned")
        )
        toast(request, text, undo_url=_url("assign", conv), undo={"assignee": str(previous or "")})
    raw_team = request.POST.get("team")
    if raw_team is not None:
        team = Team.objects.filter(pk=tk).first() if (tk := _number(raw_team)) else None
        previous_team = conv.team_id
        actions.assign_team(conv, team_id=team.pk if team else None, actor=user)
        text = (
            gettext("Given to the team %(team)s") % {"team": team.name}
            if team
            else gettext("No team any more")
        )
        toast(request, text, undo_url=_url("assign", conv), undo={"team": str(previous_team or "")})
    return _back(conv)


@login_required
@require_POST
def set_status(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _writable(request, pk)
    status = request.POST.get("status", "")
    if status in Status.values and status != conv.status:
        undo_url, undo = _status_undo(conv)
        actions.set_status(conv, status=status, actor=_user(request))
        text = gettext("Status: %(status)s") % {"status": choice_label(Status, status)}
        toast(request, text, undo_url=undo_url, undo=undo)
    return _back(conv)


@login_required
@require_POST
def snooze(request: HttpRequest, pk: int) -> HttpResponse:
    """Snooze until a date and time given in the user's own timezone."""
    conv = _writable(request, pk)
    undo_url, undo = _status_undo(conv)
    try:
        until = snooze_until(request.POST.get("until", ""))
        actions.snooze_conversation(conv, until=until, actor=_user(request))
    except ValidationError as exc:
        return HttpResponse(f"Cannot snooze: {'; '.join(exc.messages)}", status=400)
    text = gettext("Snoozed until %(time)s") % {"time": absolute_time(until)}
    toast(request, text, undo_url=undo_url, undo=undo)
    return _back(conv)


@login_required
@require_POST
def priority(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _writable(request, pk)
    value = _number(request.POST.get("priority", ""))
    if value is not None and value in Priority.values and value != conv.priority:
        previous = conv.priority
        actions.set_priority(conv, priority=value, actor=_user(request))
        text = gettext("Priority: %(priority)s") % {"priority": choice_label(Priority, value)}
        toast(request, text, undo_url=_url("priority", conv), undo={"priority": str(previous)})
    return _back(conv)


@login_required
@require_POST
def tag(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _writable(request, pk)
    name = request.POST.get("tag", "").strip()[:64]
    if name and not conv.tags.filter(name=name).exists():
        actions.tag_conversation(conv, tag=name, actor=_user(request))
        text = gettext("Tag added: %(tag)s") % {"tag": name}
        toast(request, text, undo_url=_url("untag", conv), undo={"tag": name})
    return _back(conv)


@login_required
@require_POST
def untag(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _writable(request, pk)
    name = request.POST.get("tag", "").strip()[:64]
    if name and conv.tags.filter(name=name).exists():
        actions.untag_conversation(conv, tag=name, actor=_user(request))
        text = gettext("Tag removed: %(tag)s") % {"tag": name}
        toast(request, text, undo_url=_url("tag", conv), undo={"tag": name})
    return _back(conv)


@login_required
@require_POST
def no_response(request: HttpRequest, pk: int) -> HttpResponse:
    """The buyer's last message needs no answer: its deadline is dropped (no undo: the
    marketplace may already have been told)."""
    conv = _writable(request, pk)
    actions.mark_no_response_needed(conv, actor=_user(request))
    toast(request, gettext("Marked as needing no response"))
    return _back(conv)


@login_required
@require_POST
def archive(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _writable(request, pk)
    archived = request.POST.get("archived", "1") == "1"
    actions.archive_conversation(conv, actor=_user(request), archived=archived)
    text = gettext("Archived") if archived else gettext("Back from the archive")
    toast(
        request,
        text,
        undo_url=_url("archive", conv),
        undo={"archived": "0" if archived else "1"},
    )
    return _back(conv)


@login_required
@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    conv = _writable(request, pk)
    actions.delete_conversation(conv, actor=_user(request))
    toast(request, gettext("Conversation #%(number)s deleted") % {"number": conv.pk})
    return redirect(reverse("inbox:inbox"))


@login_required
@require_POST
def merge(request: HttpRequest, pk: int) -> HttpResponse:
    """Merge this conversation into another (given by its number); the action refuses one the
    agent cannot see (404, as a number that does not exist)."""
    source = _writable(request, pk)
    raw = request.POST.get("into", "").strip().lstrip("#")
    if not (raw.isdigit() and len(raw) < 19):
        return HttpResponse(f"Cannot merge: no conversation #{raw} here", status=400)
    into = Conversation.objects.filter(pk=int(raw)).first()
    if into is None:
        raise NotVisible(f"no conversation {raw} here")
    try:
        kept = actions.merge_conversations(source, into=into, actor=_user(request))
    except ValidationError as exc:
        return HttpResponse(f"Cannot merge: {'; '.join(exc.messages)}", status=400)
    toast(request, gettext("Merged into #%(number)s") % {"number": kept.pk})
    return redirect(reverse("inbox:conversation", args=[kept.pk]))
