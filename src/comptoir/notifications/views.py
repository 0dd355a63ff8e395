"""Pages: the user's notifications, their preferences and (admins) the webhooks; the built-in
test receiver. Thin: every change goes through `notifications.actions`."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from comptoir.accounts import permissions
from comptoir.accounts.models import User
from comptoir.inbox import permissions as inbox_permissions
from comptoir.notifications import actions
from comptoir.notifications.grouping import group_notifications
from comptoir.notifications.kinds import Kind
from comptoir.notifications.models import (
    EmailChoice,
    Notification,
    ReceivedPayload,
    TestReceiver,
    Webhook,
    WebhookDelivery,
    WebhookFormat,
)

LIST_SIZE = 50  # lines, one per conversation
SCANNED = 500  # the newest notifications read to make them
MAX_TEST_BODY = 64 * 1024


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    # Enough recent ones to fill a page of conversations, grouped (mentions first).
    notes = list(
        Notification.objects.filter(user=user)
        .select_related("conversation", "channel", "actor")
        .order_by("-created_at", "-id")[:SCANNED]
    )
    groups = group_notifications(notes, LIST_SIZE)
    # A conversation the user can no longer see (moved to another team, deleted) is named by
    # number only.
    conv_ids = {g.latest.conversation_id for g in groups if g.latest.conversation_id}
    visible = set(
        inbox_permissions.visible_conversations(user)
        .filter(pk__in=conv_ids)
        .values_list("pk", flat=True)
    )
    rows = [
        {"n": g.latest, "group": g, "visible": g.latest.conversation_id in visible} for g in groups
    ]
    return render(
        request, "notifications/list.html", {"rows": rows, "unread": actions.unread_count(user)}
    )


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    actions.mark_read(_user(request))
    return HttpResponseRedirect(reverse("notifications:list"))


@login_required
def unread_badge(request: HttpRequest) -> HttpResponse:
    """The header's count, fetched by htmx after the page (no query added to every page)."""
    return render(
        request, "notifications/_badge.html", {"unread": actions.unread_count(_user(request))}
    )


@csrf_exempt
@require_POST
def test_hook(request: HttpRequest, token: str) -> HttpResponse:
    """The built-in webhook receiver: keeps what it is sent, for the settings page."""
    receiver = TestReceiver.objects.filter(token=token).first()
    if receiver is None:
        raise Http404("no such receiver")
    body = request.body
    if len(body) > MAX_TEST_BODY:
        return HttpResponse("too large", status=413, content_type="text/plain")
    actions.record_received(
        receiver,
        body=body,
        signature=request.headers.get("X-Comptoir-Signature", ""),
        timestamp=request.headers.get("X-Comptoir-Timestamp", ""),
    )
    return HttpResponse("ok", content_type="text/plain")


# -- settings ----------------------------------------------------------------------------------


def _settings_redirect() -> HttpResponse:
    return HttpResponseRedirect(reverse("settings:notifications"))


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if request.method == "POST":
        choices = {}
        for kind in Kind.values:
            email = request.POST.get(f"email-{kind}", EmailChoice.NOW)
            choices[kind] = (email, request.POST.get(f"webhook-{kind}") == "on")
        try:
            actions.set_preferences(user, choices)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        else:
            messages.success(request, _("Your notification preferences are saved."))
        return _settings_redirect()
    prefs = actions.preferences_of(user)
    rows = [
        {"kind": k, "label": label, "email": prefs[k][0], "webhook": prefs[k][1]}
        for k, label in Kind.choices
    ]
    context: dict[str, object] = {
        "prefs": rows,
        "email_choices": EmailChoice.choices,
        "is_admin": permissions.can_manage_channels(user),
    }
    if context["is_admin"]:
        hooks = list(Webhook.objects.select_related("user").order_by("name", "pk"))
        receivers = list(TestReceiver.objects.order_by("pk"))
        payloads = list(ReceivedPayload.objects.select_related("receiver").order_by("-id")[:20])
        context.update(
            {
                "webhooks": hooks,
                "formats": WebhookFormat.choices,
                "kinds": Kind.choices,
                "users": User.objects.filter(is_active=True).order_by("username"),
                "receivers": [(r, actions.receiver_url(r)) for r in receivers],
                "payloads": payloads,
                "recent_deliveries": list(
                    WebhookDelivery.objects.select_related("webhook").order_by("-id")[:10]
                ),
            }
        )
    return render(request, "notifications/settings.html", context)


@login_required
@require_POST
def webhook_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _admin_only(user)
    owner = None
    if request.POST.get("user"):
        owner = get_object_or_404(User, pk=request.POST["user"], is_active=True)
    try:
        actions.create_webhook(
            actor=user,
            name=request.POST.get("name", ""),
            url=request.POST.get("url", "").strip(),
            fmt=request.POST.get("format", WebhookFormat.JSON),
            kinds=request.POST.getlist("kinds"),
            user=owner,
        )
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, _("Webhook added."))
    return _settings_redirect()


def _admin_only(user: User) -> None:
    # A settings page for some roles: 403, as every such page (`accounts.permissions`).
    permissions.require(user, permissions.can_manage_channels, "webhooks are for owners and admins")


def _hook(request: HttpRequest, pk: int) -> tuple[User, Webhook]:
    user = _user(request)
    _admin_only(user)
    return user, get_object_or_404(Webhook, pk=pk)


@login_required
@require_POST
def webhook_test(request: HttpRequest, pk: int) -> HttpResponse:
    user, hook = _hook(request, pk)
    actions.send_test(hook, actor=user)
    messages.success(request, _("A test is on its way to %(name)s.") % {"name": hook.name})
    return _settings_redirect()


@login_required
@require_POST
def webhook_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    user, hook = _hook(request, pk)
    actions.set_webhook_active(hook, actor=user, active=not hook.is_active)
    return _settings_redirect()


@login_required
@require_POST
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user, hook = _hook(request, pk)
    actions.delete_webhook(hook, actor=user)
    messages.success(request, _("Webhook deleted."))
    return _settings_redirect()


@login_required
@require_POST
def receiver_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _admin_only(user)
    name = request.POST.get("name", "")
    if request.POST.get("with_webhook"):
        fmt = request.POST.get("format", WebhookFormat.JSON)
        made = actions.create_receiver_with_webhook(actor=user, name=name, fmt=fmt)
        if made.webhook_error:
            messages.error(request, made.webhook_error)
    else:
        actions.create_receiver(actor=user, name=name)
    return _settings_redirect()
