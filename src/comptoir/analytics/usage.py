"""Per template: how often replies were made from it (and from the composer's suggestion of
it), and the satisfaction that followed. Definitions in docs/metrics.md ("Templates and
suggestions"). Read from `automation.TemplateUse`, one row per reply made from a template."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Q

from comptoir.analytics.period import Filters, Period, Share
from comptoir.automation.models import Suggestion, TemplateUse
from comptoir.surveys.models import SurveyKind

# The analytics filters as lookups on a conversation.
_CONVERSATION_FIELDS = {
    "shop_id": "shop_id",
    "channel_id": "channel_id",
    "team_id": "team_id",
    "marketplace": "channel__marketplace",
    "assignee_id": "assignee_id",
}


def on_conversation(filters: Filters, prefix: str = "") -> dict[str, Any]:
    """The filters as lookups on a model reaching the conversation through `prefix`
    ("conversation__" for a survey)."""
    return {
        f"{prefix}{lookup}": getattr(filters, name)
        for name, lookup in _CONVERSATION_FIELDS.items()
        if getattr(filters, name) is not None
    }


@dataclass(frozen=True)
class TemplateUsage:
    """One template's figures over a period.

    uses: replies made from it; suggested: of them, made by taking the composer's suggestion;
    shown: times the composer suggested it; conversations: conversations answered with it;
    surveyed: of them, those whose survey was sent after the use and answered; csat: the share
    of 4-5 among their CSAT answers; nps: promoters minus detractors among their NPS answers."""

    template_id: int
    uses: int
    suggested: int
    shown: int
    conversations: int
    surveyed: int
    csat: Share
    nps: float | None

    @property
    def taken(self) -> Share:
        """The share of the suggestions shown that were taken."""
        return Share(min(self.suggested, self.shown), self.shown)


def template_usage(period: Period, filters: Filters) -> list[TemplateUsage]:
    """Per template used or suggested in the period (uses placed by when the reply was
    queued, suggestions by when they were shown), most used first. Two queries."""
    rows, shown = _uses(period, filters), _shown(period, filters)
    out = [
        _usage(template_id, rows.get(template_id), shown)
        for template_id in rows.keys() | shown.keys()
    ]
    return sorted(out, key=lambda u: (-u.uses, -u.shown, u.template_id))


def _uses(period: Period, filters: Filters) -> dict[int, dict[str, Any]]:
    """Per template: its uses and the surveys answered after them (one query)."""
    uses = TemplateUse.objects.filter(
        used_at__gte=period.start,
        used_at__lt=period.end,
        **on_conversation(filters, "conversation__"),
    )
    # A survey "follows" a use when it was sent after it (surveys go out after resolution).
    after = Q(conversation__survey__sent_at__gte=F("used_at"))
    answered = after & Q(conversation__survey__score__isnull=False)
    csat_answer = answered & Q(conversation__survey__kind=SurveyKind.CSAT)
    nps_answer = answered & Q(conversation__survey__kind=SurveyKind.NPS)
    score = "conversation__survey__score"
    return {
        row["template_id"]: dict(row)
        for row in uses.values("template_id")
        .annotate(
            uses=Count("pk"),
            suggested=Count("pk", filter=Q(suggestion__isnull=False)),
            conversations=Count("conversation", distinct=True),
            surveyed=Count("conversation", distinct=True, filter=answered),
            csat_n=Count("conversation", distinct=True, filter=csat_answer),
            csat_happy=Count(
                "conversation", distinct=True, filter=csat_answer & Q(**{f"{score}__gte": 4})
            ),
            nps_n=Count("conversation", distinct=True, filter=nps_answer),
            promoters=Count(
                "conversation", distinct=True, filter=nps_answer & Q(**{f"{score}__gte": 9})
            ),
            detractors=Count(
                "conversation", distinct=True, filter=nps_answer & Q(**{f"{score}__lte": 6})
            ),
        )
        .order_by()
    }


def _shown(period: Period, filters: Filters) -> dict[int, int]:
    """Per template: how often the composer suggested it (one query)."""
    return dict(
        Suggestion.objects.filter(
            shown_at__gte=period.start,
            shown_at__lt=period.end,
            **on_conversation(filters, "conversation__"),
        )
        .values("template_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("template_id", "n")
    )


def _usage(template_id: int, row: dict[str, Any] | None, shown: dict[int, int]) -> TemplateUsage:
    if row is None:  # suggested, never used
        return TemplateUsage(template_id, 0, 0, shown[template_id], 0, 0, Share(0, 0), None)
    nps = 100.0 * (row["promoters"] - row["detractors"]) / row["nps_n"] if row["nps_n"] else None
    return TemplateUsage(
        template_id=template_id,
        uses=row["uses"],
        suggested=row["suggested"],
        shown=shown.get(template_id, 0),
        conversations=row["conversations"],
        surveyed=row["surveyed"],
        csat=Share(row["csat_happy"], row["csat_n"]),
        nps=nps,
    )
