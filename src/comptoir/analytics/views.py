"""The dashboards: overview, volumes, channels, SLA, intents, agents, templates, surveys.
Thin: the filters are read by `filters`, the figures built by `dashboards`; a page answers
HTML, or one figure's rows as CSV (`?format=csv&figure=<key>`). For owners, admins,
supervisors and analysts."""

from __future__ import annotations

import csv
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import render
from django.utils.translation import gettext_lazy

from comptoir.accounts.models import Role, Team, User
from comptoir.accounts.permissions import require
from comptoir.analytics import dashboards, filters, report
from comptoir.analytics.dashboards import Dashboard
from comptoir.analytics.filters import BadFilter, Chosen
from comptoir.inbox.models import Channel, Marketplace, Shop

VIEWERS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR, Role.ANALYST})

# (url name, tab title, builder), in the order of the tabs.
PAGES: list[tuple[str, object, Callable[[Chosen], Dashboard]]] = [
    ("overview", gettext_lazy("Overview"), dashboards.overview),
    ("volumes", gettext_lazy("Volumes"), dashboards.volumes),
    ("channels", gettext_lazy("Channels"), dashboards.channels),
    ("sla", gettext_lazy("SLA"), dashboards.sla),
    ("intents", gettext_lazy("Intents"), dashboards.intents_page),
    ("agents", gettext_lazy("Agents and teams"), dashboards.agents),
    ("templates", gettext_lazy("Templates"), dashboards.templates),
    ("surveys", gettext_lazy("Surveys"), dashboards.surveys),
]


def can_view(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.role in VIEWERS)


def _csv(name: str, chosen: Chosen, board: Dashboard, key: str) -> HttpResponse:
    figure = board.figure(key)
    if figure is None:
        raise Http404(f"no figure {key!r} on this page")
    filename = f"comptoir-{name}-{key}-{chosen.start_day}-{chosen.end_day}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    csv.writer(response).writerows(figure.csv_rows())
    return response


def _marketplaces() -> list[tuple[str, str]]:
    """The marketplaces the shop sells on (those of its channels), by name."""
    used = set(Channel.objects.values_list("marketplace", flat=True).distinct())
    return sorted(
        (
            (value, dashboards.marketplace_name(value))
            for value in Marketplace.values
            if value in used
        ),
        key=lambda m: m[1].lower(),
    )


def _assignees() -> list[tuple[int, str]]:
    """The people conversations can be assigned to (not the analysts, who only read)."""
    people = User.objects.filter(is_active=True).exclude(role=Role.ANALYST)
    return sorted(((u.pk, u.display_name) for u in people), key=lambda p: p[1].lower())


def _page(name: str, builder: Callable[[Chosen], Dashboard]) -> Callable[..., HttpResponse]:
    @login_required
    def view(request: HttpRequest) -> HttpResponse:
        user = request.user
        assert isinstance(user, User)
        require(user, can_view, "the dashboards are for owners, admins, supervisors and analysts")
        error = ""
        try:
            chosen = filters.parse(request.GET)
        except BadFilter as exc:
            if request.GET.get("format") == "csv":
                return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
            # The form again, with the default filters and the error in place of the figures.
            error, chosen = str(exc), filters.parse(QueryDict())
        board = Dashboard() if error else builder(chosen)
        if request.GET.get("format") == "csv":
            return _csv(name, chosen, board, request.GET.get("figure", ""))
        context = {
            "error": error,
            "page": name,
            "title": next(t for n, t, _b in PAGES if n == name),
            "tabs": [(n, title) for n, title, _ in PAGES],
            "chosen": chosen,
            "board": board,
            "presets": list(filters.PRESETS),
            "shops": Shop.objects.order_by("name").values_list("pk", "name"),
            "channels": Channel.objects.order_by("name").values_list("pk", "name"),
            "teams": Team.objects.order_by("name").values_list("pk", "name"),
            "marketplaces": _marketplaces(),
            "assignees": _assignees(),
        }
        return render(request, f"analytics/{name}.html", context, status=400 if error else 200)

    view.__name__ = name
    return view


overview, volumes, channels, sla, intents, agents, templates, surveys = (
    _page(n, b) for n, _t, b in PAGES
)


@login_required
def report_file(request: HttpRequest) -> HttpResponse:
    """The analyst's report of the page's filters, as an HTML file to download (the same file
    `comptoir report` writes), in the reader's language."""
    user = request.user
    assert isinstance(user, User)
    require(user, can_view, "the report is for owners, admins, supervisors and analysts")
    try:
        chosen = filters.parse(request.GET)
    except BadFilter as exc:
        return HttpResponseBadRequest(str(exc))
    response = HttpResponse(report.build_html(chosen), content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{report.filename(chosen)}"'
    return response
