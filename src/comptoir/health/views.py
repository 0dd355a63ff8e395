"""The "Account health" page: per marketplace channel, each metric against its marketplace's
threshold, its state and source, and its weekly trend; `?format=csv` for the same as a file.
For owners, admins, supervisors and analysts, on the channels they see."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from comptoir.accounts.models import Role, User
from comptoir.accounts.permissions import require
from comptoir.health import report
from comptoir.health.chart import trend_svg
from comptoir.health.report import ChannelHealth
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
    channels = [
        {
            "health": h,
            "marketplace": names.get(h.marketplace, h.marketplace),
            "cards": [
                {
                    "card": c,
                    "value": percent(c.value),
                    "threshold": percent(c.threshold),
                    "chart": trend_svg(c),
                }
                for c in h.cards
            ],
        }
        for h in healths
    ]
    context = {"channels": channels, "share": round(report.warning_share() * 100)}
    return render(request, "health/page.html", context)
