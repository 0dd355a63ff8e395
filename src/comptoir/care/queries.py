"""The at-risk rows a user may see, filtered as the care page asks."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from comptoir.accounts.models import User
from comptoir.automation.models import Template
from comptoir.care.models import AtRisk, Reason
from comptoir.inbox.permissions import visible_channels

FILTERS = ("reason", "marketplace", "contacted", "state")
PAGE = 200


def visible_risks(user: User) -> QuerySet[AtRisk]:
    return AtRisk.objects.filter(channel__in=visible_channels(user))


def clean_params(raw: dict[str, str], marketplaces: set[str]) -> dict[str, str]:
    """Unknown values are dropped rather than refused: a stale link still shows a list."""
    params = {name: raw.get(name, "").strip() for name in FILTERS}
    if params["reason"] not in Reason.values:
        params["reason"] = ""
    if params["marketplace"] not in marketplaces:
        params["marketplace"] = ""
    if params["contacted"] not in ("yes", "no"):
        params["contacted"] = ""
    if params["state"] not in ("open", "resolved"):
        params["state"] = "open"
    return params


def risk_list(user: User, params: dict[str, str]) -> QuerySet[AtRisk]:
    risks = visible_risks(user).select_related(
        "order", "order__customer", "channel", "message", "message__conversation"
    )
    risks = risks.filter(resolved_at__isnull=params["state"] == "open")
    if params["reason"]:
        risks = risks.filter(reason=params["reason"])
    if params["marketplace"]:
        risks = risks.filter(channel__marketplace=params["marketplace"])
    if params["contacted"]:
        risks = risks.filter(contacted_at__isnull=params["contacted"] == "no")
    # The most pressing first: the earliest deadline, then the oldest finding.
    return risks.order_by("deadline", "detected_at", "pk")


def usable_templates(user: User) -> list[Template]:
    """The active templates a proactive message may use: every shop's, and those of the shops
    of the orders at risk the user sees."""
    shops = visible_risks(user).values("shop_id")
    rows = Template.objects.filter(Q(shop__isnull=True) | Q(shop__in=shops), is_active=True)
    return list(rows.order_by("name"))
