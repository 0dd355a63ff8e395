"""REST endpoints of the SLA app: the marketplaces' late-response rates per channel, and the
calendars' exceptional closures."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from comptoir.accounts.models import User
from comptoir.accounts.permissions import can_manage_channels, find_visible
from comptoir.inbox.permissions import visible_channels
from comptoir.sla import actions
from comptoir.sla.metrics import ChannelRates, all_rates, late_response_rates
from comptoir.sla.models import BusinessCalendar, Closure

router = Router(tags=["sla"])


class RateOut(Schema):
    days: int
    late: int
    on_time: int
    pending: int = Field(description="unanswered and still inside the marketplace's window")
    excluded: int = Field(description="marked as needing no response")
    rate: float | None = Field(description="late / (late + on_time); null when none counted")


class ChannelRatesOut(Schema):
    channel_id: int
    channel_name: str
    marketplace: str
    rule: str = Field(description="the marketplace's rule the count follows")
    target_hours: float
    business_hours: bool
    periods: list[RateOut]


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def _out(rates: ChannelRates) -> dict[str, Any]:
    return {
        **{k: getattr(rates, k) for k in ChannelRatesOut.model_fields if k != "periods"},
        "periods": [
            {
                "days": p.days,
                "late": p.late,
                "on_time": p.on_time,
                "pending": p.pending,
                "excluded": p.excluded,
                "rate": p.rate,
            }
            for p in rates.periods
        ],
    }


@router.get(
    "/sla/late-response-rates",
    response=list[ChannelRatesOut],
    summary="Late-response rate per channel over 7, 30 and 90 days",
    description="Counted the way each marketplace counts it (see comptoir.sla.metrics).",
)
def list_rates(request: HttpRequest) -> list[dict[str, Any]]:
    channels = visible_channels(_user(request)).order_by("name", "id")
    return [_out(r) for r in all_rates(channels)]


@router.get(
    "/sla/late-response-rates/{channel_id}",
    response={200: ChannelRatesOut, 404: dict[str, Any]},
)
def channel_rates(request: HttpRequest, channel_id: int) -> dict[str, Any]:
    channel = find_visible(visible_channels(_user(request)), channel_id)
    return _out(late_response_rates(channel))


# -- a calendar's exceptional closures, as on the SLA settings page (owners and admins) --------


class ClosureIn(Schema):
    starts_at: datetime = Field(description="with its offset (a naive time is the calendar's)")
    ends_at: datetime
    reason: str = Field("", max_length=200)


class ClosureOut(Schema):
    id: int
    calendar_id: int
    starts_at: datetime
    ends_at: datetime
    reason: str


def _calendar(request: HttpRequest, calendar_id: int) -> BusinessCalendar:
    user = _user(request)
    if not can_manage_channels(user):  # the role first (403), then the calendar (404)
        raise PermissionDenied("SLA settings are for owners and admins")
    return BusinessCalendar.objects.get(pk=calendar_id)


@router.get("/sla/calendars/{calendar_id}/closures", response=list[ClosureOut])
def list_closures(request: HttpRequest, calendar_id: int) -> list[Closure]:
    return list(_calendar(request, calendar_id).closures.order_by("starts_at", "id"))


@router.post("/sla/calendars/{calendar_id}/closures", response={201: ClosureOut})
def add_closure(request: HttpRequest, calendar_id: int, body: ClosureIn) -> Status:
    calendar = _calendar(request, calendar_id)
    zone = ZoneInfo(calendar.timezone)

    def aware(at: datetime) -> datetime:
        return at if at.tzinfo is not None else at.replace(tzinfo=zone)

    closure = actions.add_closure(
        calendar,
        actor=_user(request),
        starts_at=aware(body.starts_at),
        ends_at=aware(body.ends_at),
        reason=body.reason,
    )
    return Status(201, closure)


@router.delete("/sla/closures/{closure_id}", response={204: None})
def delete_closure(request: HttpRequest, closure_id: int) -> Status:
    user = _user(request)
    if not can_manage_channels(user):
        raise PermissionDenied("SLA settings are for owners and admins")
    actions.delete_closure(Closure.objects.get(pk=closure_id), actor=user)
    return Status(204, None)
