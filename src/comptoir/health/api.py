"""REST endpoints of account health (`/api/v1/account-health`): each marketplace channel's
metrics against its marketplace's threshold, with the trend; the seller's own thresholds.
Reading is for owners, admins, supervisors and analysts (403 otherwise), on the channels they
see; setting a threshold for owners and admins, through `health.actions`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from comptoir.accounts.models import User
from comptoir.health import actions
from comptoir.health.report import ChannelHealth
from comptoir.health.views import health_for

router = Router(tags=["account health"])

MetricName = Literal["late_shipment", "cancellation", "late_response", "claims", "valid_tracking"]
StateName = Literal["ok", "warning", "breached", "no_data"]


class ErrorOut(Schema):
    detail: Any


class PointOut(Schema):
    at: datetime
    value: float | None = Field(description="the figure over the window ending then (0..1)")


class MetricOut(Schema):
    metric: MetricName
    name: str
    value: float | None = Field(
        description="0..1 as the marketplace shows it: the tracked share for valid_tracking, "
        "else the bad share (late, cancelled, claimed); null when nothing was counted"
    )
    bad: int | None = Field(description="orders or messages late, cancelled, claimed, untracked")
    counted: int | None
    threshold: float = Field(description="0..1, as `value`")
    threshold_is_minimum: bool = Field(description="true: the value must stay above it")
    window_days: int
    state: StateName
    published: bool = Field(description="false: a default the seller may change")
    source_url: str
    source_note: str
    trend: list[PointOut] = Field(description="weekly points over the last 90 days, oldest first")


class ChannelHealthOut(Schema):
    channel_id: int
    channel: str
    marketplace: str
    state: StateName = Field(description="the worst state of its metrics")
    metrics: list[MetricOut]


class HealthQuery(Schema):
    trend: bool = Field(True, description="false leaves the weekly points out (faster)")


class ThresholdIn(Schema):
    limit: float | None = Field(
        gt=0,
        lt=1,
        description="the largest share of bad ones allowed (0.04 for 4 %; for valid_tracking "
        "the share untracked: 0.05 for above 95 %); null goes back to the marketplace's",
    )


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def _out(h: ChannelHealth) -> dict[str, Any]:
    return {
        "channel_id": h.channel_id,
        "channel": h.channel_name,
        "marketplace": h.marketplace,
        "state": h.state,
        "metrics": [
            {
                "metric": c.metric.value,
                "name": c.name,
                "value": c.value,
                "bad": c.measure.bad if c.measure else None,
                "counted": c.measure.whole if c.measure else None,
                "threshold": c.threshold,
                "threshold_is_minimum": c.good_above,
                "window_days": c.rule.window_days,
                "state": c.state,
                "published": c.rule.published,
                "source_url": c.rule.source_url,
                "source_note": str(c.rule.source_note),
                "trend": [{"at": at, "value": v} for at, v in c.trend],
            }
            for c in h.cards
        ],
    }


@router.get(
    "/account-health",
    response={200: list[ChannelHealthOut], 403: ErrorOut},
    summary="Marketplace account health",
)
def account_health(request: HttpRequest, query: Query[HealthQuery]) -> list[dict[str, Any]]:
    return [_out(h) for h in health_for(_user(request), trend=query.trend)]


@router.put(
    "/account-health/thresholds/{marketplace}/{metric}",
    response={204: None, 403: ErrorOut, 422: ErrorOut},
    summary="Set or reset the seller's own threshold",
)
def set_threshold(
    request: HttpRequest, marketplace: str, metric: MetricName, body: ThresholdIn
) -> Status[None]:
    actions.set_threshold(marketplace, metric, body.limit, actor=_user(request))
    return Status(204, None)
