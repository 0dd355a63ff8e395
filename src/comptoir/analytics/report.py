"""The analyst's report: one self-contained HTML file of a period's figures (`comptoir report`,
and the "Download report" link of the dashboards).

It reads the KPIs of `kpis` (and the per-channel and per-intent figures the dashboards build)
for the chosen period and filters, adds what only a report lists (the trend bucket by bucket,
the worst SLA breaches, the survey score distribution, the longest waits), draws the charts
as SVG on the server (`svg`) and renders `analytics/report.html` with its CSS inline: the
file names no address and opens offline. Figures only: conversations appear by their
reference (#id) and channel, never by a subject or a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from comptoir.accounts.models import Team
from comptoir.analytics import dashboards, kpis, kpis_hooks, rollup
from comptoir.analytics import report_parts as parts
from comptoir.analytics.figures import COUNT, HOURS, SHARE, Column, Figure, KeyFigure
from comptoir.analytics.filters import Chosen
from comptoir.analytics.models import ConversationFact, ResponseFact
from comptoir.analytics.period import Filters
from comptoir.analytics.report_parts import Item, Progress, Report, Section
from comptoir.inbox.models import Channel, Conversation, Shop
from comptoir.sla.policies import policies_for
from comptoir.surveys.models import Survey, SurveyKind


def _quiet(step: str) -> None:
    pass


def build(chosen: Chosen, progress: Progress = _quiet) -> Report:
    """The report's figures for `chosen`, in the active language."""
    now = timezone.now()
    previous_last = chosen.start_day - timedelta(days=1)
    span = (chosen.end_day - chosen.start_day).days + 1
    report = Report(
        chosen=chosen,
        scope=_scope(chosen.filters),
        previous_first=previous_last - timedelta(days=span - 1),
        previous_last=previous_last,
        generated_at=now,
        language=translation.get_language() or "en",
        bucket=parts.bucket_kind(span),
    )
    steps: list[tuple[str, Callable[[Chosen, Report], Section | None]]] = [
        ("key figures", _key_figures),
        ("trends", _trends),
        ("channels", _channels),
        ("SLA", _sla),
        ("marketplace late rates", _late_rates),
        ("intents", _intents),
        ("surveys", _surveys),
        ("longest waits", _longest_waits),
    ]
    for name, step in steps:
        progress(name)
        section = step(chosen, report)
        if section is not None:
            report.sections.append(section)
    return report


def render(report: Report) -> str:
    return render_to_string("analytics/report.html", {"report": report})


def build_html(chosen: Chosen, progress: Progress = _quiet) -> str:
    report = build(chosen, progress)
    progress("rendering")
    return render(report)


def filename(chosen: Chosen) -> str:
    return f"comptoir-report-{chosen.start_day}-{chosen.end_day}.html"


def missing_facts(chosen: Chosen) -> list[int]:
    """Conversations of the period with no facts yet (the worker has not caught up, or a
    history was just imported with no worker running): the report refreshes them first."""
    f = chosen.filters
    convs = Conversation.objects.filter(
        created_at__gte=chosen.period.start,
        created_at__lt=chosen.period.end,
        deleted_at=None,
        merged_into=None,
    )
    for name in ("shop_id", "channel_id", "team_id", "assignee_id"):
        if getattr(f, name) is not None:
            convs = convs.filter(**{name: getattr(f, name)})
    if f.marketplace is not None:
        convs = convs.filter(channel__marketplace=f.marketplace)
    if convs.count() == kpis.facts_in(chosen.period, f).count():
        return []
    have = set(kpis.facts_in(chosen.period, f).values_list("conversation_id", flat=True))
    return sorted(set(convs.values_list("pk", flat=True)) - have)


# -- helpers ------------------------------------------------------------------------------------


def _scope(filters: Filters) -> list[tuple[str, str]]:
    def name(model: Any, pk: int | None, everything: str) -> str:
        if pk is None:
            return everything
        return str(model.objects.filter(pk=pk).values_list("name", flat=True).first() or pk)

    return [
        (_("Shop"), name(Shop, filters.shop_id, _("All shops"))),
        (_("Channel"), name(Channel, filters.channel_id, _("All channels"))),
        (_("Team"), name(Team, filters.team_id, _("All teams"))),
    ]


# -- sections -----------------------------------------------------------------------------------


def _key_figures(chosen: Chosen, report: Report) -> Section:
    specs = dashboards.key_specs("conversations")
    specs.append(
        (
            _("Conversations per 100 orders"),
            parts.DECIMAL,
            True,
            lambda at: at(kpis.conversations_per_100_orders),
        )
    )
    specs += dashboards.key_specs(
        "first_median",
        "first_p90",
        "first_business_median",
        "next_median",
        "within_sla",
        "resolution_median",
        "fcr",
        "reopen",
    )
    specs.append(
        (
            _("Messages per conversation"),
            parts.DECIMAL,
            None,
            lambda at: at.overview.messages_per_conversation,
        )
    )
    specs += dashboards.key_specs("no_response_needed", "csat", "nps", "response_rate")
    keys = dashboards.key_figures(specs, *dashboards.periods(chosen))
    return Section("keys", _("Key figures"), keys=keys)


def _trend_figures(kind: str) -> tuple[Figure, Figure]:
    """The trend's two tables, empty: volume per bucket, and the service's figures per bucket."""
    label = {"day": _("Day"), "week": _("Week of"), "month": _("Month")}[kind]
    volume = Figure(
        "trend-volume",
        {
            "day": _("Conversations per day"),
            "week": _("Conversations per week"),
            "month": _("Conversations per month"),
        }[kind],
        [
            Column(label),
            Column(_("Conversations"), COUNT),
            Column(_("Previous period"), COUNT),
            Column(_("Open at the end"), COUNT),
        ],
    )
    service = Figure(
        "trend-service",
        _("Response and satisfaction over the period"),
        [
            Column(label),
            Column(_("First response, median"), HOURS),
            Column(_("First response, 90th percentile"), HOURS),
            Column(_("Answered within the SLA"), SHARE),
            Column(_("First-contact resolution"), SHARE),
            Column(_("CSAT"), SHARE),
        ],
    )
    return volume, service


def _trends(chosen: Chosen, report: Report) -> Section:
    f = chosen.filters
    kind = report.bucket
    volume, service = _trend_figures(kind)
    backlog = dict(kpis.backlog(chosen.period, f))
    current, previous = parts.buckets(chosen.period, kind), parts.buckets(chosen.previous, kind)
    zone = rollup.zone(f)  # asked once, not once per bucket and figure
    for i, bucket in enumerate(current):
        # Only the KPIs shown (the overview would also sort the next responses, resolutions),
        # the conversations' sums read once for the count, the SLA and the FCR.
        figures = kpis.bucket(bucket, f, zone)
        first = figures.first_response.calendar
        # The same bucket of the period before (months differ in length: the i-th one).
        before = None
        if i < len(previous):
            before = kpis.bucket(previous[i], f, zone, times=False).conversations
        last_day = timezone.localtime(bucket.end - timedelta(seconds=1)).date()
        name = parts.day(bucket.start)
        if kind == "month":
            name = formats.date_format(timezone.localtime(bucket.start), "YEAR_MONTH_FORMAT")
        volume.rows.append([name, figures.conversations, before, backlog.get(last_day)])
        service.rows.append(
            [
                name,
                first.median,
                first.p90,
                figures.within_sla.share,
                figures.fcr.share,
                parts.share100(kpis.csat(bucket, f)),
            ]
        )
    kind_chart = "line" if len(current) > 14 else "bar"
    items = [
        Item(volume, parts.chart(volume, kind_chart, (1, 2))),
        Item(
            service,
            parts.chart(service, "line", (1, 2), half=True)
            + parts.chart(service, "line", (3, 4, 5), half=True),
        ),
    ]
    note = _(
        "Open at the end: conversations created and not resolved by the end of the bucket's "
        "last day (UTC). Previous period: the same bucket of the period before."
    )
    return Section("trends", _("Trends"), items=items, note=note)


def _channels(chosen: Chosen, report: Report) -> Section:
    figure = dashboards.channels(chosen).figures[0]
    charts = parts.chart(figure, "hbar", (2,), half=True) + parts.chart(
        figure, "hbar", (3,), half=True
    )
    return Section(
        "channels",
        _("Per channel"),
        items=[Item(replace(figure, title=_("Channels side by side")), charts)],
    )


def _sla(chosen: Chosen, report: Report) -> Section:
    f = chosen.filters
    names = parts.channel_names()
    # Read from the rollup: decided = answered or late (sla_whole), late = decided - in time.
    shares = kpis.sla_per(chosen.period, f, "channel_id")
    groups = sorted(
        (
            {"channel_id": channel_id, "decided": s.whole, "late": s.whole - s.part}
            for channel_id, s in shares.items()
        ),
        key=lambda g: (-g["late"], g["channel_id"]),
    )
    per_channel = Figure(
        "sla-channels",
        _("SLA breaches per channel"),
        [
            Column(_("Channel")),
            Column(_("Decided"), COUNT),
            Column(_("Late"), COUNT),
            Column(_("Answered within the SLA"), SHARE),
        ],
    )
    decided = late = 0
    for g in groups:
        if not g["decided"]:
            continue
        decided += g["decided"]
        late += g["late"]
        share = (g["decided"] - g["late"]) / g["decided"]
        per_channel.rows.append(
            [names.get(g["channel_id"], str(g["channel_id"])), g["decided"], g["late"], share]
        )
    previous = kpis.within_sla(chosen.previous, f)
    keys = [
        KeyFigure(_("First responses decided"), COUNT, decided, previous.whole, None),
        KeyFigure(_("SLA breaches"), COUNT, late, previous.whole - previous.part, True),
        KeyFigure(
            _("Answered within the SLA"),
            SHARE,
            (decided - late) / decided if decided else None,
            previous.share,
            False,
        ),
    ]
    items = [Item(per_channel, parts.chart(per_channel, "hbar", (2,)) if late else [])]
    items.append(Item(_worst_breaches(chosen, names)))
    note = _(
        "A breach is a first buyer message answered after the channel's respond-by, or still "
        "unanswered past it. Decided: answered, or late; those still in time and those marked "
        "as needing no response are left out."
    )
    return Section("sla", _("SLA"), keys=keys, items=items, note=note)


def _worst_breaches(chosen: Chosen, names: dict[int, str]) -> Figure:
    """The latest first responses of the period (or still unanswered past their deadline)."""
    now = timezone.now()
    late = kpis.facts_in(chosen.period, chosen.filters).filter(within_sla=False)
    fields = ("conversation_id", "channel_id", "first_inbound_at", "first_response_at")
    answered = late.filter(first_response_at__isnull=False).order_by("-first_response_seconds")
    unanswered = late.filter(first_response_at__isnull=True)
    waiting = unanswered.filter(resolved_at__isnull=True).order_by("first_inbound_at")
    closed = unanswered.filter(resolved_at__isnull=False).order_by("-resolution_seconds")
    rows = [
        row
        for qs in (answered, waiting, closed)
        for row in qs.values_list(*fields, "resolved_at")[: parts.CANDIDATES]
    ]
    policies = policies_for({r[1] for r in rows})
    worst: list[tuple[timedelta, int, int, datetime, datetime, str]] = []
    for conv_id, channel_id, received, answered_at, resolved_at in rows:
        if received is None:
            continue
        deadline = policies[channel_id].respond_by(received, first=True)
        # Never answered: late until it was resolved without a reply, or until now.
        late_by = (answered_at or resolved_at or now) - deadline
        if answered_at is not None:
            answer = parts.when(answered_at)
        else:
            answer = _("resolved without reply") if resolved_at else _("not yet")
        worst.append((late_by, conv_id, channel_id, received, deadline, answer))
    worst.sort(key=lambda w: (-w[0].total_seconds(), w[1]))
    figure = Figure(
        "sla-worst",
        _("The worst breaches"),
        [
            Column(_("Conversation")),
            Column(_("Channel")),
            Column(_("Buyer's first message")),
            Column(_("Respond by")),
            Column(_("Answered")),
            Column(_("Late by"), HOURS),
        ],
    )
    for late_by, conv_id, channel_id, received, deadline, answer in worst[: parts.LIST_ROWS]:
        figure.rows.append(
            [
                f"#{conv_id}",
                names.get(channel_id, str(channel_id)),
                parts.when(received),
                parts.when(deadline),
                answer,
                late_by.total_seconds() / 3600,
            ]
        )
    return figure


def _late_rates(chosen: Chosen, report: Report) -> None:
    """Added to the SLA section: a step of its own, counted on the raw messages (the
    slowest part of the report on a large history)."""
    figure = Figure(
        "late-rates",
        _("Late-response rate as each marketplace counts it"),
        [
            Column(_("Channel")),
            Column(_("Target (hours)"), HOURS),
            Column(_("Last 7 days"), SHARE),
            Column(_("Last 30 days"), SHARE),
            Column(_("Last 90 days"), SHARE),
        ],
    )
    for rates in kpis.marketplace_late_rates(chosen.period, chosen.filters):
        by_days = {r.days: r.rate for r in rates.periods}
        figure.rows.append(
            [
                rates.channel_name,
                rates.target_hours,
                by_days.get(7),
                by_days.get(30),
                by_days.get(90),
            ]
        )
    report.sections[-1].items.append(Item(figure))


def _intents(chosen: Chosen, report: Report) -> Section:
    figure = dashboards.intents_page(chosen).figures[0]
    total = len(figure.rows)
    top = replace(figure, title=_("Top intents"), rows=figure.rows[: parts.TOP_INTENTS])
    note = ""
    if total > parts.TOP_INTENTS:
        note = _("The %(shown)d most frequent of %(total)d intents.") % {
            "shown": parts.TOP_INTENTS,
            "total": total,
        }
    charts = parts.chart(top, "hbar", (1,), half=True) + parts.chart(top, "hbar", (2,), half=True)
    return Section("intents", _("Intents"), items=[Item(top, charts, note)])


def _surveys(chosen: Chosen, report: Report) -> Section:
    f = chosen.filters
    keys = dashboards.key_figures(
        dashboards.key_specs("csat", "nps", "response_rate", "surveys_sent", "answers"),
        *dashboards.periods(chosen),
    )
    scores = (
        Survey.objects.filter(
            sent_at__gte=chosen.period.start,
            sent_at__lt=chosen.period.end,
            score__isnull=False,
            **kpis_hooks.survey_filters(f),
        )
        .values_list("kind", "score")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counted: dict[tuple[str, int], int] = {(k, s): n for k, s, n in scores}
    items = []
    for kind, title, values in (
        (SurveyKind.CSAT, _("CSAT answers by score (1 to 5)"), range(1, 6)),
        (SurveyKind.NPS, _("NPS answers by score (0 to 10)"), range(11)),
    ):
        n = sum(counted.get((kind, s), 0) for s in values)
        if not n:
            continue
        figure = Figure(
            f"scores-{kind}",
            title,
            [
                Column(_("Score")),
                Column(_("Group")),
                Column(_("Answers"), COUNT),
                Column(_("Share"), SHARE),
            ],
        )
        for score in values:
            count = counted.get((kind, score), 0)
            figure.rows.append([str(score), _score_group(kind, score), count, count / n])
        items.append(Item(figure, parts.chart(figure, "bar", (2,))))
    note = "" if items else _("No survey was answered in this period.")
    note += (" " if note else "") + _(
        "Surveys are counted in the period they were sent in. Comments are not in the report."
    )
    return Section("surveys", _("Surveys"), keys=keys, items=items, note=note)


def _score_group(kind: str, score: int) -> str:
    if kind == SurveyKind.CSAT:
        return _("Satisfied") if score >= 4 else _("Not satisfied")
    if score >= 9:
        return _("Promoter")
    return _("Passive") if score >= 7 else _("Detractor")


def _longest_waits(chosen: Chosen, report: Report) -> Section:
    """The longest waits of the period: answered ones by their length, and buyer messages still
    unanswered (in conversations neither resolved nor marked as needing no response)."""
    now = timezone.now()
    names = parts.channel_names()
    waits = ResponseFact.objects.filter(
        chosen.filters.q(),
        received_at__gte=chosen.period.start,
        received_at__lt=chosen.period.end,
    )
    fields = ("conversation_id", "channel_id", "first", "received_at", "answered_at")
    answered = list(
        waits.filter(seconds__isnull=False)
        .order_by("-seconds", "conversation_id")
        .values_list(*fields, "seconds", "business_seconds")[: parts.LIST_ROWS]
    )
    # Still waiting: unanswered, in a conversation neither resolved nor marked as needing none.
    still_open = ConversationFact.objects.filter(
        resolved_at__isnull=True, no_response_needed=False
    ).values("conversation_id")
    open_waits = list(
        waits.filter(answered_at__isnull=True, conversation_id__in=still_open)
        .order_by("received_at", "conversation_id")
        .values_list(*fields)[: parts.LIST_ROWS]
    )
    rows: list[tuple[Any, ...]] = list(answered)
    rows += [(*w, (now - w[3]).total_seconds(), None) for w in open_waits]
    rows.sort(key=lambda r: (-r[5], r[0]))
    figure = Figure(
        "longest-waits",
        _("The longest waits"),
        [
            Column(_("Conversation")),
            Column(_("Channel")),
            Column(_("Wait")),
            Column(_("Buyer's message")),
            Column(_("Answered")),
            Column(_("Wait (hours)"), HOURS),
            Column(_("Wait (business hours)"), HOURS),
        ],
    )
    for conv_id, channel_id, first, received, answered_at, seconds, business in rows[
        : parts.LIST_ROWS
    ]:
        figure.rows.append(
            [
                f"#{conv_id}",
                names.get(channel_id, str(channel_id)),
                _("first response") if first else _("next response"),
                parts.when(received),
                parts.when(answered_at) or _("still waiting"),
                seconds / 3600,
                None if business is None else business / 3600,
            ]
        )
    note = _(
        "A wait runs from a buyer message to the reply that answers it; one still waiting is "
        "counted to the time of the report. Conversations are given by their reference only."
    )
    return Section("waits", _("Longest waits"), items=[Item(figure)], note=note)
