"""The Export page of the analytics: the dashboards' current filters, what to export and in
which format; the download streams (docs/exports.md). Owners, admins, supervisors, analysts;
the bodies choice only for those who may read them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils.translation import gettext_lazy

from comptoir.accounts.models import Role, Team, User
from comptoir.analytics import exports, filters, writers
from comptoir.analytics.filters import BadFilter
from comptoir.analytics.streaming import download
from comptoir.analytics.views import PAGES
from comptoir.inbox.models import Channel, Marketplace, Shop

KIND_LABELS = {
    "conversations": gettext_lazy("Conversations (one row each)"),
    "messages": gettext_lazy("Messages (one row each)"),
    "overview": gettext_lazy("Key figures"),
    "channels": gettext_lazy("Per channel"),
    "agents": gettext_lazy("Per agent"),
    "teams": gettext_lazy("Per team"),
    "volumes": gettext_lazy("Volumes by channel, marketplace, shop, intent and language"),
    "daily": gettext_lazy("Per day: conversations and backlog"),
}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    exports.check(user, with_bodies=False)
    return user


@login_required
def export_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    try:
        chosen, chosen_filters = exports.scope(request.GET)
    except BadFilter as exc:
        return HttpResponseBadRequest(str(exc))
    context = {
        "page": "export",
        "title": gettext_lazy("Export"),
        "tabs": [(n, title) for n, title, _ in PAGES],
        "chosen": chosen,
        "filters": chosen_filters,
        "presets": list(filters.PRESETS),
        "kinds": list(KIND_LABELS.items()),
        "formats": writers.FORMATS,
        "bodies": exports.can_export_bodies(user),
        "shops": Shop.objects.order_by("name").values_list("pk", "name"),
        "channels": Channel.objects.order_by("name").values_list("pk", "name"),
        "teams": Team.objects.order_by("name").values_list("pk", "name"),
        "marketplaces": Marketplace.choices,
        # Whom conversations can be assigned to: analysts only read.
        "assignees": User.objects.filter(is_active=True)
        .exclude(role=Role.ANALYST)
        .order_by("username")
        .values_list("pk", "username"),
    }
    return render(request, "analytics/export.html", context)


@login_required
def export_download(request: HttpRequest) -> HttpResponse:
    with_bodies = request.GET.get("bodies") == "1"
    user = _user(request)
    exports.check(user, with_bodies=with_bodies)
    kind, fmt = request.GET.get("kind", ""), request.GET.get("format", "csv")
    try:
        chosen, chosen_filters = exports.scope(request.GET)
        if fmt not in writers.FORMATS:
            raise BadFilter(f"format: {fmt!r} is not one of {', '.join(writers.FORMATS)}")
        table = exports.build(
            kind,
            chosen.period,
            chosen_filters,
            with_bodies=with_bodies,
            actor=user.username,
            user=user,
        )
    except BadFilter as exc:
        return HttpResponseBadRequest(str(exc))
    chunks = writers.chunks(table, fmt, bom=request.GET.get("bom") == "1")
    return download(request, chunks, exports.filename(kind, chosen, fmt))  # type: ignore[return-value]
