"""The "Account health" page: per marketplace channel, each metric against its marketplace's
threshold, its state and source, and its weekly trend; `?format=csv` for the same as a file.
For owners, admins, supervisors and analysts, on the channels they see."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from comptoir.accounts.models import Role, User
from comptoir.accounts.permissions import can_manage_channels, require
from comptoir.health import actions, report
from comptoir.health.chart import trend_svg
from comptoir.health.report import ChannelHealth
from comptoir.health.thresholds import METRIC_NAMES, SHOWN_AS_GOOD, Metric
from comptoir.health.warnings import percent
from comptoir.inbox.models import Marketplace
from comptoir.inbox.permissions import visible_channels

VIEWERS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR, Role.ANALYST})
CSV_HEADER = [
    "channel_id", "channel", "marketplace", "metric", "window_days", "bad", "counted",
    "value", "threshold", "threshold_is_minimum", "state", "published", "source",
]  # fmt: skip


def can_view(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.role in VIEWERS)


def health_for(user: User, *, trend: bool = True) -> list[ChannelHealth]:
    """The health of the marketplace channels the user sees."""
    require(user, can_view, "account health is for owners, admins, supervisors and analysts")
    channels = list(visible_channels(user).filter(is_active=True).order_by("name", "pk"))
    return report.build(channels, trend=trend)


def csv_rows(healths: list[ChannelHealth]) -> list[list[Any]]:
    rows: list[list[Any]] = [CSV_HEADER]
    for h in healths:
        for c in h.cards:
            rows.append(
                [
                    h.channel_id, h.channel_name, h.marketplace, c.metric, c.rule.window_days,
                    c.measure.bad if c.measure else "", c.measure.whole if c.measure else "",
                    "" if c.value is None else round(c.value, 4), round(c.threshold, 4),
                    c.good_above, c.state, c.rule.published, c.rule.source_url,
                ]
            )  # fmt: skip
    return rows


@login_required
def page(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    healths = health_for(user, trend=request.GET.get("format") != "csv")
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        day = timezone.localdate().isoformat()
        response["Content-Disposition"] = f'attachment; filename="comptoir-health-{day}.csv"'
        csv.writer(response).writerows(csv_rows(healths))
        return response
    names = dict(Marketplace.choices)
    # The channels that need the seller first; those with nothing counted last.
    healths.sort(key=lambda h: (h.state == report.NO_DATA, -report.SEVERITY[h.state]))
    channels = [
        {
            "health": h,
            "marketplace": names.get(h.marketplace, h.marketplace),
            "cards": [
                {
                    "card": c,
                    "value": percent(c.value),
                    "threshold": percent(c.threshold),
                    "threshold_input": f"{round(c.threshold * 100, 2):g}",
                    "chart": trend_svg(c),
                }
                for c in h.cards
            ],
        }
        for h in healths
    ]
    context = {
        "channels": channels,
        "share": round(report.warning_share() * 100),
        "can_set": can_manage_channels(user),
    }
    return render(request, "health/page.html", context)


def _limit(metric: str, percent: str) -> float:
    """The threshold typed as the page shows it (4 for "under 4 %", 95 for "above 95 %") as
    the share of bad ones allowed."""
    try:
        value = float(percent.replace(",", ".")) / 100
    except ValueError:
        raise ValidationError(_("A threshold is a percentage, such as 4 or 2.5.")) from None
    return 1 - value if metric in {m.value for m in SHOWN_AS_GOOD} else value


@login_required
@require_POST
def set_threshold(request: HttpRequest) -> HttpResponse:
    """The seller's own threshold for a marketplace's metric, or back to the marketplace's."""
    user = request.user
    assert isinstance(user, User)
    marketplace, metric = request.POST.get("marketplace", ""), request.POST.get("metric", "")
    try:
        limit = None if "reset" in request.POST else _limit(metric, request.POST.get("percent", ""))
        actions.set_threshold(marketplace, metric, limit, actor=user)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        name = METRIC_NAMES[Metric(metric)]
        messages.success(request, _("Threshold saved (%(metric)s).") % {"metric": name})
    return redirect("health:page")
