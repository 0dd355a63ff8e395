"""The dashboards' contents, one builder per page: the KPIs of `kpis` for the chosen period
and filters, as key figures and `Figure`s. Figures only: no message, no buyer's words."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import Any

from django.db.models import Count
from django.utils import formats, timezone
from django.utils.dates import WEEKDAYS
from django.utils.translation import get_language_info
from django.utils.translation import gettext as _

from comptoir.accounts.models import Team, User
from comptoir.analytics import kpis, usage
from comptoir.analytics.figures import (
    COUNT,
    HOURS,
    SCORE,
    SHARE,
    Chart,
    Column,
    Figure,
    KeyFigure,
)
from comptoir.analytics.filters import Chosen
from comptoir.analytics.period import Durations, Filters, Period
from comptoir.analytics.stats import durations_by
from comptoir.automation.models import Template
from comptoir.inbox.models import Channel, Marketplace, Shop
from comptoir.lib import intents
from comptoir.surveys import metrics as survey_metrics

MARKETPLACES = dict(Marketplace.choices)


def marketplace_name(value: str) -> str:
    """A marketplace's name in the page's language ("Own shop" is the one that translates;
    the choices' labels are plain strings, so they are looked up here)."""
    return _(str(MARKETPLACES.get(value, value)))


@dataclass
class Dashboard:
    keys: list[KeyFigure] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)

    def figure(self, key: str) -> Figure | None:
        return next((f for f in self.figures if f.key == key), None)


def _share100(value: float | None) -> float | None:
    """The surveys' 0-100 shares as the 0..1 shares of the rest."""
    return None if value is None else value / 100


def _day_label(day: date) -> str:
    return formats.date_format(day, "SHORT_DATE_FORMAT")


# -- key figures: a period's and the period's before ---------------------------------------------


class At:
    """The KPIs of one period, for key figures: what several figures read (the overview, the
    backlog, the survey counts) is computed once."""

    def __init__(self, period: Period, filters: Filters) -> None:
        self.period, self.filters = period, filters

    def __call__(self, kpi: Callable[[Period, Filters], Any]) -> Any:
        return kpi(self.period, self.filters)

    @cached_property
    def overview(self) -> kpis.Overview:
        return self(kpis.overview)

    @cached_property
    def backlog(self) -> list[tuple[date, int]]:
        return self(kpis.backlog)

    @cached_property
    def heatmap(self) -> list[list[int]]:
        return self(kpis.heatmap)

    @cached_property
    def survey_counts(self) -> tuple[int, int]:
        return self(kpis.survey_counts)

    def csat(self) -> float | None:
        return _share100(self(kpis.csat))

    def response_rate(self) -> float | None:
        return _share100(self(kpis.survey_response_rate))


# (label, kind, lower is better (None: neither), the KPI of a period)
KeySpec = tuple[str, str, bool | None, Callable[[At], float | None]]


def key_figures(specs: Sequence[KeySpec], now: At, before: At) -> list[KeyFigure]:
    """Each key figure's value in the period and in the period before."""
    return [
        KeyFigure(label, kind, kpi(now), kpi(before), lower) for label, kind, lower, kpi in specs
    ]


def periods(chosen: Chosen) -> tuple[At, At]:
    """The chosen period and the one of the same length before it."""
    return At(chosen.period, chosen.filters), At(chosen.previous, chosen.filters)


# -- overview ----------------------------------------------------------------------------------


def key_specs(*names: str) -> list[KeySpec]:
    """Key figures by name, one definition each for the pages and the report."""
    catalogue: dict[str, KeySpec] = {
        "conversations": (_("Conversations"), COUNT, None, lambda at: at.overview.conversations),
        "first_median": (
            _("First response, median"),
            HOURS,
            True,
            lambda at: at.overview.first_response.calendar.median,
        ),
        "first_p90": (
            _("First response, 90th percentile"),
            HOURS,
            True,
            lambda at: at.overview.first_response.calendar.p90,
        ),
        "first_business_median": (
            _("First response, median (business hours)"),
            HOURS,
            True,
            lambda at: at.overview.first_response.business.median,
        ),
        "first_business_p90": (
            _("First response, 90th percentile (business hours)"),
            HOURS,
            True,
            lambda at: at.overview.first_response.business.p90,
        ),
        "next_median": (
            _("Next response, median"),
            HOURS,
            True,
            lambda at: at.overview.next_response.calendar.median,
        ),
        "within_sla": (
            _("Answered within the SLA"),
            SHARE,
            False,
            lambda at: at.overview.within_sla.share,
        ),
        "resolution_median": (
            _("Resolution, median"),
            HOURS,
            True,
            lambda at: at.overview.resolution.median,
        ),
        "fcr": (_("First-contact resolution"), SHARE, False, lambda at: at.overview.fcr.share),
        "reopen": (_("Reopen rate"), SHARE, True, lambda at: at.overview.reopen.share),
        "no_response_needed": (
            _("No response needed"),
            SHARE,
            None,
            lambda at: at.overview.no_response_needed.share,
        ),
        "csat": (_("CSAT"), SHARE, False, At.csat),
        "nps": (_("NPS"), SCORE, False, lambda at: at(kpis.nps)),
        "response_rate": (_("Survey response rate"), SHARE, False, At.response_rate),
        "surveys_sent": (_("Surveys sent"), COUNT, None, lambda at: at.survey_counts[0]),
        "answers": (_("Answers"), COUNT, None, lambda at: at.survey_counts[1]),
    }
    return [catalogue[name] for name in names]


def overview(chosen: Chosen) -> Dashboard:
    specs = key_specs(
        "conversations",
        "first_median",
        "first_p90",
        "first_business_median",
        "first_business_p90",
        "within_sla",
        "fcr",
        "reopen",
        "csat",
        "nps",
        "response_rate",
    )
    return Dashboard(keys=key_figures(specs, *periods(chosen)), figures=[_per_day(chosen)])


def _daily(period: Period, chosen: Chosen, days: int) -> list[int]:
    """Conversations created on each of `days` days from the period's first (the shop's day)."""
    rows = kpis.facts_in(period, chosen.filters).values("created_day").annotate(n=Count("pk"))
    by_day = {r["created_day"]: r["n"] for r in rows.order_by()}
    first = timezone.localtime(period.start).date()
    return [by_day.get(first + timedelta(days=i), 0) for i in range(days)]


def _per_day(chosen: Chosen) -> Figure:
    """Conversations created each day, beside the previous period's day by day."""
    days = (chosen.end_day - chosen.start_day).days + 1
    current, previous = _daily(chosen.period, chosen, days), _daily(chosen.previous, chosen, days)
    figure = Figure(
        "per-day",
        _("Conversations per day"),
        [Column(_("Day")), Column(_("Conversations"), COUNT), Column(_("Previous period"), COUNT)],
        chart=Chart("line", (1, 2)),
        folded=True,
    )
    for i in range(days):
        day = chosen.start_day + timedelta(days=i)
        figure.rows.append([_day_label(day), current[i], previous[i]])
    return figure


# -- channels and SLA --------------------------------------------------------------------------


def _channel_names() -> dict[int, tuple[str, str]]:
    return {
        pk: (name, marketplace_name(market))
        for pk, name, market in Channel.objects.values_list("pk", "name", "marketplace")
    }


def channels(chosen: Chosen) -> Dashboard:
    names = _channel_names()
    figure = Figure(
        "channels",
        _("Per channel"),
        [
            Column(_("Channel")),
            Column(_("Marketplace")),
            Column(_("Conversations"), COUNT),
            Column(_("First response, median"), HOURS),
            Column(_("First response, 90th percentile"), HOURS),
            Column(_("Answered within the SLA"), SHARE),
            Column(_("First-contact resolution"), SHARE),
            Column(_("Reopen rate"), SHARE),
            Column(_("CSAT"), SHARE),
            Column(_("NPS"), SCORE),
        ],
        chart=Chart("bar", (2,)),
    )
    # CSAT and NPS of every channel in one query (not one per row).
    scores = survey_metrics.scores_by(
        "conversation__channel_id",
        start=chosen.period.start,
        end=chosen.period.end,
        **usage.on_conversation(chosen.filters, "conversation__"),
    )
    for row in kpis.per_channel(chosen.period, chosen.filters):
        score = scores.get(row.channel_id, survey_metrics.EMPTY)
        name, market = names.get(row.channel_id, (str(row.channel_id), ""))
        figure.rows.append(
            [
                name,
                market,
                row.conversations,
                row.first_response.median,
                row.first_response.p90,
                row.within_sla.share,
                row.fcr.share,
                row.reopen.share,
                _share100(score.csat),
                score.nps,
            ]
        )
    return Dashboard(figures=[figure])


def sla(chosen: Chosen) -> Dashboard:
    names = _channel_names()
    within = Figure(
        "within-sla",
        _("Answered within the SLA, per channel"),
        [
            Column(_("Channel")),
            Column(_("Answered within the SLA"), SHARE),
            Column(_("In time"), COUNT),
            Column(_("Decided"), COUNT),
        ],
        chart=Chart("bar", (1,)),
    )
    for row in kpis.per_channel(chosen.period, chosen.filters):
        name = names.get(row.channel_id, (str(row.channel_id), ""))[0]
        share = row.within_sla
        within.rows.append([name, share.share, share.part, share.whole])
    late = Figure(
        "late-rates",
        _("Late-response rate as each marketplace counts it"),
        [
            Column(_("Channel")),
            Column(_("Marketplace")),
            Column(_("Target (hours)"), HOURS),
            Column(_("Last 7 days"), SHARE),
            Column(_("Last 30 days"), SHARE),
            Column(_("Last 90 days"), SHARE),
        ],
        chart=Chart("bar", (3, 4, 5)),
    )
    for rates in kpis.marketplace_late_rates(chosen.period, chosen.filters):
        by_days = {r.days: r.rate for r in rates.periods}
        late.rows.append(
            [
                rates.channel_name,
                names.get(rates.channel_id, ("", ""))[1],
                rates.target_hours,
                by_days.get(7),
                by_days.get(30),
                by_days.get(90),
            ]
        )
    return Dashboard(figures=[within, late])


# -- intents and people ------------------------------------------------------------------------


def intents_page(chosen: Chosen) -> Dashboard:
    volume = kpis.volume(chosen.period, chosen.filters, "intent")
    rows = kpis.facts_in(chosen.period, chosen.filters)
    waits = durations_by(rows, "intent", "first_response_seconds")
    figure = Figure(
        "intents",
        _("Conversations and first response per intent"),
        [
            Column(_("Intent")),
            Column(_("Conversations"), COUNT),
            Column(_("First response, median"), HOURS),
            Column(_("First response, 90th percentile"), HOURS),
        ],
        chart=Chart("bar", (1,)),
    )
    for intent, n in volume.items():
        times = waits.get(intent) or Durations.of_seconds([])
        label = intents.label(intent) if intent else _("Not read yet")
        figure.rows.append([label, n, times.median, times.p90])
    return Dashboard(figures=[figure])


def _people_figure(
    key: str, title: str, who: str, rows: list[kpis.PersonRow], names: Any
) -> Figure:
    figure = Figure(
        key,
        title,
        [
            Column(who),
            Column(_("Conversations handled"), COUNT),
            Column(_("First response, median"), HOURS),
            Column(_("Resolution, median"), HOURS),
            Column(_("First-contact resolution"), SHARE),
        ],
        chart=Chart("bar", (1,)),
    )
    for row in rows:
        figure.rows.append(
            [
                names(row.id),
                row.handled,
                row.first_response.median,
                row.resolution.median,
                row.fcr.share,
            ]
        )
    return figure


def agents(chosen: Chosen) -> Dashboard:
    people = {u.pk: u.display_name for u in User.objects.all()}
    teams = dict(Team.objects.values_list("pk", "name"))
    per_agent = kpis.per_agent(chosen.period, chosen.filters)
    per_team = kpis.per_team(chosen.period, chosen.filters)
    return Dashboard(
        figures=[
            _people_figure(
                "agents",
                _("Per agent"),
                _("Agent"),
                per_agent,
                lambda pk: people.get(pk, str(pk)) if pk is not None else _("Unassigned"),
            ),
            _people_figure(
                "teams",
                _("Per team"),
                _("Team"),
                per_team,
                lambda pk: teams.get(pk, str(pk)) if pk is not None else _("No team"),
            ),
        ]
    )


# -- surveys -----------------------------------------------------------------------------------


def surveys(chosen: Chosen) -> Dashboard:
    keys = key_figures(key_specs("csat", "nps", "response_rate", "answers"), *periods(chosen))
    weekly = Figure(
        "weekly",
        _("Satisfaction by week"),
        [
            Column(_("Week of")),
            Column(_("CSAT"), SHARE),
            Column(_("NPS"), SCORE),
            Column(_("Answers"), COUNT),
            Column(_("Surveys sent"), COUNT),
        ],
        chart=Chart("line", (1, 2)),
    )
    starts = []
    start = chosen.period.start
    while start < chosen.period.end:
        starts.append(start)
        start += timedelta(days=7)
    # Every week in one query (not one per week).
    weeks = survey_metrics.scores_by_bucket(
        starts, chosen.period.end, **usage.on_conversation(chosen.filters, "conversation__")
    )
    for start, week in zip(starts, weeks, strict=True):
        weekly.rows.append(
            [
                _day_label(timezone.localtime(start).date()),
                _share100(week.csat),
                week.nps,
                week.answered,
                week.sent,
            ]
        )
    return Dashboard(keys=keys, figures=[weekly])


# -- volumes -----------------------------------------------------------------------------------


def _heatmap(grid: list[list[int]]) -> Figure:
    """Conversations created per weekday and hour, in the shop's time: a shaded table."""
    figure = Figure(
        "heatmap",
        _("Conversations by weekday and hour (shop time)"),
        [Column(_("Weekday")), *(Column(f"{h:02d}", COUNT) for h in range(24))],
        chart=Chart("heatmap", tuple(range(1, 25))),
    )
    if any(any(row) for row in grid):
        figure.rows = [[str(WEEKDAYS[day]), *grid[day]] for day in range(7)]
    return figure


def _backlog(days: list[tuple[date, int]]) -> Figure:
    figure = Figure(
        "backlog",
        _("Backlog: conversations open at the end of each day"),
        [Column(_("Day")), Column(_("Open conversations"), COUNT)],
        chart=Chart("line", (1,)),
        folded=True,
    )
    for day, n in days:
        figure.rows.append([_day_label(day), n])
    return figure


def _language_name(code: str) -> str:
    if not code:
        return _("Unknown")
    try:
        return str(get_language_info(code)["name_translated"])
    except KeyError:
        return code


def _volume_by(chosen: Chosen, by: str, key: str, title: str, who: str, names: Any) -> Figure:
    figure = Figure(
        key,
        title,
        [Column(who), Column(_("Conversations"), COUNT), Column(_("Share"), SHARE)],
        chart=Chart("bar", (1,)),
    )
    counts = kpis.volume(chosen.period, chosen.filters, by)
    total = sum(counts.values())
    for value, n in counts.items():
        figure.rows.append([names(value), n, n / total if total else None])
    return figure


def volumes(chosen: Chosen) -> Dashboard:
    """When buyers write (weekday x hour), what stays open (the backlog), and where the
    conversations come from (marketplace, shop, language); key figures against the period
    before: conversations, per 100 orders, open at the period's end, and the disputes the
    marketplaces opened (in all, and per 100 orders)."""
    shops = dict(Shop.objects.values_list("pk", "name"))
    now, before = periods(chosen)
    specs: list[KeySpec] = [
        (_("Conversations"), COUNT, None, lambda at: sum(map(sum, at.heatmap))),
        (
            _("Conversations per 100 orders"),
            SCORE,
            True,
            lambda at: at(kpis.conversations_per_100_orders),
        ),
        (
            _("Open at the end of the period"),
            COUNT,
            True,
            lambda at: at.backlog[-1][1] if at.backlog else None,
        ),
        (_("Disputes opened"), COUNT, True, lambda at: at(kpis.disputes)),
        (_("Disputes per 100 orders"), SCORE, True, lambda at: at(kpis.disputes_per_100_orders)),
    ]
    return Dashboard(
        keys=key_figures(specs, now, before),
        figures=[
            _heatmap(now.heatmap),
            _backlog(now.backlog),
            _volume_by(
                chosen,
                "marketplace",
                "marketplaces",
                _("Conversations per marketplace"),
                _("Marketplace"),
                marketplace_name,
            ),
            _volume_by(
                chosen,
                "shop_id",
                "shops",
                _("Conversations per shop"),
                _("Shop"),
                lambda pk: shops.get(pk, str(pk)),
            ),
            _volume_by(
                chosen,
                "language",
                "languages",
                _("Conversations per language"),
                _("Language"),
                _language_name,
            ),
        ],
    )


# -- templates and suggestions -----------------------------------------------------------------


def templates(chosen: Chosen) -> Dashboard:
    """Per template: replies made from it, how many from the composer's suggestion, and the
    satisfaction of the conversations it answered (surveys sent after the use)."""
    names = dict(Template.objects.values_list("pk", "name"))
    figure = Figure(
        "templates",
        _("Per template: uses and the satisfaction that followed"),
        [
            Column(_("Template")),
            Column(_("Uses"), COUNT),
            Column(_("From a suggestion"), COUNT),
            Column(_("Times suggested"), COUNT),
            Column(_("Suggestions taken"), SHARE),
            Column(_("Conversations"), COUNT),
            Column(_("Survey answers after"), COUNT),
            Column(_("CSAT after"), SHARE),
            Column(_("NPS after"), SCORE),
        ],
        chart=Chart("bar", (1, 2)),
    )
    for row in usage.template_usage(chosen.period, chosen.filters):
        figure.rows.append(
            [
                names.get(row.template_id, str(row.template_id)),
                row.uses,
                row.suggested,
                row.shown,
                row.taken.share,
                row.conversations,
                row.surveyed,
                row.csat.share,
                row.nps,
            ]
        )
    return Dashboard(figures=[figure])
