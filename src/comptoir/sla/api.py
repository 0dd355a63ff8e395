"""REST endpoints of the SLA app: the marketplaces' late-response rates per channel, and the
calendars, their exceptional closures and the channels' policies (the SLA settings page)."""

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
from comptoir.inbox.models import Shop
from comptoir.inbox.permissions import visible_channels
from comptoir.inbox.schemas import ErrorOut
from comptoir.sla import actions
from comptoir.sla.metrics import ChannelRates, all_rates, late_response_rates
from comptoir.sla.models import BusinessCalendar, Closure

router = Router(tags=["sla"])
# 422 is an action's refusal ({"detail": "..."}) or the request's validation errors (a list).
_ERRORS: dict[int, Any] = {403: ErrorOut, 404: ErrorOut, 422: dict[str, Any]}


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


@router.get("/sla/calendars/{calendar_id}/closures", response={200: list[ClosureOut], **_ERRORS})
def list_closures(request: HttpRequest, calendar_id: int) -> list[Closure]:
    return list(_calendar(request, calendar_id).closures.order_by("starts_at", "id"))


@router.post("/sla/calendars/{calendar_id}/closures", response={201: ClosureOut, **_ERRORS})
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


@router.delete("/sla/closures/{closure_id}", response={204: None, **_ERRORS})
def delete_closure(request: HttpRequest, closure_id: int) -> Status:
    user = _user(request)
    if not can_manage_channels(user):
        raise PermissionDenied("SLA settings are for owners and admins")
    actions.delete_closure(Closure.objects.get(pk=closure_id), actor=user)
    return Status(204, None)


# -- calendars and channel policies, as on the SLA settings page (owners and admins) ---------


def _manager(request: HttpRequest) -> User:
    user = _user(request)
    if not can_manage_channels(user):
        raise PermissionDenied("SLA settings are for owners and admins")
    return user


class CalendarIn(Schema):
    name: str = Field(max_length=100)
    timezone: str = Field("Europe/Paris", max_length=64)
    hours: dict[str, list[list[str]]] = Field(
        description='weekday ("0" = Monday) → intervals, e.g. {"0": [["09:00", "12:00"]]}'
    )
    holiday_country: str = Field("", max_length=2)
    holiday_subdivision: str = Field("", max_length=16)


class CalendarCreateIn(CalendarIn):
    shop_id: int


class CalendarOut(Schema):
    id: int
    shop_id: int
    name: str
    timezone: str
    hours: dict[str, list[list[str]]]
    holiday_country: str
    holiday_subdivision: str


@router.get("/sla/calendars", response={200: list[CalendarOut], **_ERRORS})
def list_calendars(request: HttpRequest) -> list[BusinessCalendar]:
    _manager(request)
    return list(BusinessCalendar.objects.order_by("id"))


@router.post("/sla/calendars", response={201: CalendarOut, **_ERRORS})
def create_calendar(request: HttpRequest, body: CalendarCreateIn) -> Status:
    user = _manager(request)
    shop = Shop.objects.get(pk=body.shop_id)
    data = body.dict(exclude={"shop_id"})
    return Status(201, actions.save_calendar(shop, actor=user, **data))


@router.put("/sla/calendars/{calendar_id}", response={200: CalendarOut, **_ERRORS})
def update_calendar(request: HttpRequest, calendar_id: int, body: CalendarIn) -> BusinessCalendar:
    user = _manager(request)
    calendar = BusinessCalendar.objects.get(pk=calendar_id)
    return actions.save_calendar(calendar.shop, actor=user, calendar=calendar, **body.dict())


class PolicyIn(Schema):
    first_response_minutes: int = Field(ge=15)
    next_response_minutes: int = Field(ge=15)
    mode: str = Field(description="calendar (every hour counts) or business (open hours only)")
    calendar_id: int | None = Field(None, description="null: the shop's default calendar")
    at_risk_percent: int = Field(75, ge=1, le=99)
    auto_reply_counts: bool = False


class PolicyOut(Schema):
    channel_id: int
    first_response_minutes: int
    next_response_minutes: int
    mode: str
    calendar_id: int | None
    at_risk_percent: int
    auto_reply_counts: bool


@router.put("/sla/channels/{channel_id}/policy", response={200: PolicyOut, **_ERRORS})
def set_policy(request: HttpRequest, channel_id: int, body: PolicyIn) -> Any:
    # As on the page: a channel out of sight is 404, then the role decides (403).
    channel = find_visible(visible_channels(_user(request)), channel_id)
    user = _manager(request)
    calendar = BusinessCalendar.objects.get(pk=body.calendar_id) if body.calendar_id else None
    data = body.dict(exclude={"calendar_id"})
    return actions.save_policy(channel, actor=user, calendar=calendar, **data)


@router.delete("/sla/channels/{channel_id}/policy", response={204: None, **_ERRORS})
def reset_policy(request: HttpRequest, channel_id: int) -> Status:
    """Back to the marketplace's published rule."""
    channel = find_visible(visible_channels(_user(request)), channel_id)
    actions.reset_policy(channel, actor=_manager(request))
    return Status(204, None)
