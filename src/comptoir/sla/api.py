"""REST endpoints of the SLA app: the marketplaces' late-response rates per channel."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from comptoir.accounts.models import User
from comptoir.accounts.permissions import find_visible
from comptoir.inbox.permissions import visible_channels
from comptoir.sla.metrics import ChannelRates, all_rates, late_response_rates

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
