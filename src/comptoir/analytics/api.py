"""REST endpoints of the analytics: the KPIs of `kpis` (docs/metrics.md) with the dashboards'
filters, and the exports as files (docs/exports.md). For owners, admins, supervisors and
analysts; other roles get 403 with the reason (`accounts.permissions`: a page that is not about
one object); message bodies only for owners, admins and supervisors."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any, Literal

from django.http import HttpRequest, HttpResponseBase
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from comptoir.accounts.models import User
from comptoir.analytics import exports, kpis, writers
from comptoir.analytics.filters import BadFilter
from comptoir.analytics.period import Filters, Period
from comptoir.analytics.streaming import download

router = Router(tags=["analytics"])


class FiltersIn(Schema):
    start: date | None = Field(None, alias="from", description="first day (YYYY-MM-DD)")
    end: date | None = Field(None, alias="to", description="last day, included")
    period: Literal["7d", "30d", "90d", "365d"] | None = Field(
        None, description="instead of from/to; 30d when neither is given"
    )
    shop: int | None = None
    channel: int | None = None
    team: int | None = None
    marketplace: str | None = None
    assignee: int | None = Field(None, description="a user id")


class ErrorOut(Schema):
    detail: str


class DurationsOut(Schema):
    count: int
    median: float | None = Field(description="hours")
    mean: float | None
    p90: float | None


class ResponseTimesOut(Schema):
    calendar: DurationsOut
    business: DurationsOut = Field(description="in the channel's business hours")


class ShareOut(Schema):
    part: int
    whole: int
    share: float | None = Field(description="part / whole, 0..1; null when whole is 0")


class PeriodOut(Schema):
    start: str
    end: str = Field(description="excluded")


class OverviewOut(Schema):
    period: PeriodOut
    conversations: int
    first_response: ResponseTimesOut
    next_response: ResponseTimesOut
    within_sla: ShareOut
    resolution: DurationsOut
    fcr: ShareOut = Field(description="first-contact resolution")
    reopen: ShareOut
    messages_per_conversation: float | None
    no_response_needed: ShareOut
    conversations_per_100_orders: float | None
    csat: float | None = Field(description="0-100: share of CSAT answers of 4 or 5")
    nps: float | None = Field(description="-100 to 100")
    survey_response_rate: float | None = Field(description="0-100")


class ChannelOut(Schema):
    channel_id: int
    channel: str
    marketplace: str
    conversations: int
    first_response: DurationsOut = Field(description="calendar hours")
    within_sla: ShareOut
    fcr: ShareOut
    reopen: ShareOut
    csat: float | None
    nps: float | None


class PersonOut(Schema):
    id: int | None = Field(description="null: unassigned (agents) or no team (teams)")
    name: str
    handled: int
    first_response: DurationsOut
    resolution: DurationsOut
    fcr: ShareOut
    csat: float | None


class VolumeOut(Schema):
    value: str = Field(description="the id or code grouped on; empty when unknown")
    conversations: int


class HeatmapOut(Schema):
    weekdays: list[list[int]] = Field(description="7 rows (Monday first) of 24 hourly counts")


class BacklogOut(Schema):
    day: date
    open: int = Field(description="conversations open at the end of the day (UTC)")


class SurveysOut(Schema):
    csat: float | None
    nps: float | None
    response_rate: float | None
    sent: int
    answered: int


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def _scope(request: HttpRequest, query: FiltersIn, *, with_bodies: bool = False) -> Any:
    exports.check(_user(request), with_bodies=with_bodies)
    raw = {
        "from": query.start.isoformat() if query.start else "",
        "to": query.end.isoformat() if query.end else "",
        "period": query.period or "",
        **{
            k: "" if getattr(query, k) is None else str(getattr(query, k))
            for k in ("shop", "channel", "team", "marketplace", "assignee")
        },
    }
    try:
        return exports.scope(raw)
    except BadFilter as exc:
        raise HttpError(400, str(exc)) from None


def _filters(request: HttpRequest, query: FiltersIn) -> tuple[Period, Filters]:
    chosen, filters = _scope(request, query)
    return chosen.period, filters


ERRORS: dict[int, Any] = {400: ErrorOut, 403: ErrorOut}


@router.get("/analytics/overview", response={200: OverviewOut, **ERRORS}, summary="Key figures")
def overview(request: HttpRequest, filters: Query[FiltersIn]) -> dict[str, Any]:
    period, f = _filters(request, filters)
    return {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        # The dataclasses as they are: the schema reads their attributes (`Share.share` too).
        **vars(kpis.overview(period, f)),
        "conversations_per_100_orders": kpis.conversations_per_100_orders(period, f),
        "csat": kpis.csat(period, f),
        "nps": kpis.nps(period, f),
        "survey_response_rate": kpis.survey_response_rate(period, f),
    }


def _share(share: Any) -> dict[str, Any]:
    return {"part": share.part, "whole": share.whole, "share": share.share}


@router.get("/analytics/channels", response={200: list[ChannelOut], **ERRORS})
def channels(request: HttpRequest, filters: Query[FiltersIn]) -> list[dict[str, Any]]:
    period, f = _filters(request, filters)
    found = kpis.per_channel(period, f)
    names = {r[0]: r for r in exports.channel_rows(period, f, found)}
    return [
        {
            "channel_id": r.channel_id,
            "channel": names[r.channel_id][1],
            "marketplace": names[r.channel_id][2],
            "conversations": r.conversations,
            "first_response": asdict(r.first_response),
            "within_sla": _share(r.within_sla),
            "fcr": _share(r.fcr),
            "reopen": _share(r.reopen),
            "csat": names[r.channel_id][10],
            "nps": names[r.channel_id][11],
        }
        for r in found
    ]


def _people(request: HttpRequest, query: FiltersIn, which: str) -> list[dict[str, Any]]:
    period, f = _filters(request, query)
    rows = kpis.per_agent(period, f) if which == "agents" else kpis.per_team(period, f)
    named = {r[0]: r for r in exports.people_rows(which, period, f, rows)}
    return [
        {
            "id": r.id,
            "name": named[r.id][1],
            "handled": r.handled,
            "first_response": asdict(r.first_response),
            "resolution": asdict(r.resolution),
            "fcr": _share(r.fcr),
            "csat": named[r.id][7],
        }
        for r in rows
    ]


@router.get("/analytics/agents", response={200: list[PersonOut], **ERRORS})
def agents(request: HttpRequest, filters: Query[FiltersIn]) -> list[dict[str, Any]]:
    return _people(request, filters, "agents")


@router.get("/analytics/teams", response={200: list[PersonOut], **ERRORS})
def teams(request: HttpRequest, filters: Query[FiltersIn]) -> list[dict[str, Any]]:
    return _people(request, filters, "teams")


@router.get("/analytics/volume", response={200: list[VolumeOut], **ERRORS})
def volume(
    request: HttpRequest,
    filters: Query[FiltersIn],
    by: Literal["channel_id", "marketplace", "shop_id", "intent", "language"] = "channel_id",
) -> list[dict[str, Any]]:
    period, f = _filters(request, filters)
    return [
        {"value": "" if k is None else str(k), "conversations": n}
        for k, n in kpis.volume(period, f, by).items()
    ]


@router.get("/analytics/heatmap", response={200: HeatmapOut, **ERRORS})
def heatmap(request: HttpRequest, filters: Query[FiltersIn]) -> dict[str, Any]:
    period, f = _filters(request, filters)
    return {"weekdays": kpis.heatmap(period, f)}


@router.get("/analytics/backlog", response={200: list[BacklogOut], **ERRORS})
def backlog(request: HttpRequest, filters: Query[FiltersIn]) -> list[dict[str, Any]]:
    period, f = _filters(request, filters)
    return [{"day": day, "open": n} for day, n in kpis.backlog(period, f)]


@router.get("/analytics/surveys", response={200: SurveysOut, **ERRORS})
def surveys(request: HttpRequest, filters: Query[FiltersIn]) -> dict[str, Any]:
    period, f = _filters(request, filters)
    sent, answered = kpis.survey_counts(period, f)
    return {
        "csat": kpis.csat(period, f),
        "nps": kpis.nps(period, f),
        "response_rate": kpis.survey_response_rate(period, f),
        "sent": sent,
        "answered": answered,
    }


@router.get(
    "/analytics/exports/{kind}",
    response={400: ErrorOut, 403: ErrorOut},
    summary="An export as a CSV or Parquet file",
    description=(
        "kind: conversations, messages, or a KPI table (overview, channels, agents, teams, "
        "volumes, daily). Streamed. Subjects and message texts only with with_bodies=true, "
        "for owners, admins and supervisors."
    ),
    # The file itself: a stream, not a schema ninja can describe.
    openapi_extra={
        "responses": {
            "200": {
                "description": "The file",
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/vnd.apache.parquet": {
                        "schema": {"type": "string", "format": "binary"}
                    },
                },
            }
        }
    },
)
def export(
    request: HttpRequest,
    kind: Literal[
        "conversations", "messages", "overview", "channels", "agents", "teams", "volumes", "daily"
    ],
    filters: Query[FiltersIn],
    format: Literal["csv", "parquet"] = "csv",
    with_bodies: bool = False,
    bom: bool = Query(False, description="CSV: a UTF-8 byte-order mark first (Excel)"),
) -> HttpResponseBase:
    user = _user(request)
    chosen, f = _scope(request, filters, with_bodies=with_bodies)
    table = exports.build(
        kind,
        chosen.period,
        f,
        with_bodies=with_bodies,
        actor=f"{user.username} (api)",
        user=user,
    )
    return download(
        request, writers.chunks(table, format, bom=bom), exports.filename(kind, chosen, format)
    )
