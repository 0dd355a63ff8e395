"""`/settings/privacy/`: find a buyer by any identity, download everything held about them,
erase them (confirmed), and each shop's retention. Owners and admins."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from comptoir.accounts.models import User
from comptoir.accounts.permissions import find_visible, require
from comptoir.inbox.models import Channel, Shop
from comptoir.privacy import access, actions
from comptoir.privacy.marketplace_rules import rule_for
from comptoir.privacy.models import RetentionMode, RetentionPolicy


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return require(
        user, actions.can_handle_requests, "data-protection requests are for owners and admins"
    )


def _ids(request: HttpRequest) -> list[int]:
    return [int(v) for v in request.POST.getlist("customer") if v.isdigit() and len(v) < 19]


@login_required
def privacy_page(request: HttpRequest) -> HttpResponse:
    _user(request)
    q = request.GET.get("q", "").strip()
    policies = {p.shop_id: p for p in RetentionPolicy.objects.all()}
    found = actions.due()
    due: dict[int, int] = {}
    for d in found:
        due[d.shop.pk] = due.get(d.shop.pk, 0) + len(d.conversation_ids)
    channel_due = {d.channel.pk: len(d.conversation_ids) for d in found}
    shops = []
    for shop in Shop.objects.order_by("name"):
        days, mode = actions.policy_for(shop, policies)
        own = policies.get(shop.pk)
        shops.append(
            {
                "shop": shop,
                "days": days,
                "mode": mode,
                "own": bool(own and own.days),
                "due": due.get(shop.pk, 0),
            }
        )
    channels = [
        {
            "channel": channel,
            "policy": policy,
            "rule": rule_for(channel.marketplace),
            "due": channel_due.get(channel.pk, 0),
        }
        for channel, policy in actions.channel_policies()
    ]
    context = {
        "q": q,
        "matches": access.find_customers(q) if q else None,
        "shops": shops,
        "channels": channels,
        "modes": RetentionMode.choices,
    }
    return render(request, "privacy/privacy.html", context)


@login_required
@require_POST
def export(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    ids = _ids(request)
    try:
        data = actions.export_subject(ids, actor=user)
    except ValidationError as exc:
        return HttpResponse("; ".join(exc.messages), status=400, content_type="text/plain")
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{access.filename(ids)}"'
    return response


@login_required
@require_POST
def erase(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    ids = _ids(request)
    try:
        result = actions.erase_subject(ids, actor=user, confirm=request.POST.get("confirm", ""))
    except ValidationError:
        messages.error(request, _("Nothing was erased: type the buyer's number to confirm."))
        return redirect(f"{reverse('settings:privacy')}?q={ids[0] if ids else ''}")
    messages.success(
        request,
        _(
            "Buyer %(ids)s erased: %(conversations)s conversations and %(messages)s messages "
            "anonymised, %(files)s files removed."
        )
        % {
            "ids": ", ".join(f"#{i}" for i in ids),
            "conversations": result.conversations,
            "messages": result.messages,
            "files": result.files,
        },
    )
    return redirect(reverse("settings:privacy"))


@login_required
@require_POST
def retention(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    shop = find_visible(Shop.objects.all(), pk)
    try:
        days = int(request.POST.get("days", "") or 0)
        actions.save_retention(shop, actor=user, days=days, mode=request.POST.get("mode", ""))
    except (ValueError, ValidationError):
        messages.error(request, _("Retention: a number of days (0 keeps for ever)."))
    else:
        messages.success(request, _("Retention of %(shop)s saved.") % {"shop": shop.name})
    return redirect(reverse("settings:privacy"))


@login_required
@require_POST
def channel_retention(request: HttpRequest, pk: int) -> HttpResponse:
    """A channel's own retention, or (`follow`) back to its marketplace's or shop's."""
    user = _user(request)
    channel = find_visible(Channel.objects.all(), pk)
    try:
        raw = request.POST.get("days", "").strip()
        days = None if request.POST.get("follow") or raw == "" else int(raw)
        mode = request.POST.get("mode", "")
        actions.save_channel_retention(channel, actor=user, days=days, mode=mode)
    except (ValueError, ValidationError):
        messages.error(request, _("Retention: a number of days (0 keeps for ever)."))
    else:
        messages.success(request, _("Retention of %(shop)s saved.") % {"shop": channel.name})
    return redirect(reverse("settings:privacy") + "#retention-channels")
