"""Settings pages for owners and admins. First: channels, with their health and a connection
test that runs as a task (the page asks for its outcome; no request waits on a marketplace)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from comptoir.accounts.models import User
from comptoir.accounts.permissions import can_manage_channels, visible_channels
from comptoir.inbox.models import Channel
from comptoir.inbox.tasks import channel_test_outcome, test_channel


def _admin(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    if not can_manage_channels(user):
        raise PermissionDenied("channel settings are for owners and admins")
    return user


@login_required
def channels(request: HttpRequest) -> HttpResponse:
    user = _admin(request)
    rows = visible_channels(user).select_related("shop", "team").order_by("shop__name", "name")
    return render(request, "web/channels.html", {"channels": rows})


@login_required
@require_POST
def start_test(request: HttpRequest, pk: int) -> HttpResponse:
    user = _admin(request)
    channel = get_object_or_404(visible_channels(user), pk=pk)
    result = test_channel.enqueue(channel.pk)
    return render(request, "web/_channel_test.html", {"channel": channel, "task_id": result.id})


@login_required
def test_result(request: HttpRequest, pk: int, task_id: str) -> HttpResponse:
    user = _admin(request)
    channel: Channel = get_object_or_404(visible_channels(user), pk=pk)
    try:
        state = channel_test_outcome(channel.pk, task_id)
    except LookupError as exc:
        raise Http404(str(exc)) from None
    outcome = state if "ok" in state else None
    context = {"channel": channel, "task_id": task_id, "outcome": outcome}
    return render(request, "web/_channel_test.html", context)
