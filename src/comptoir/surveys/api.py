"""REST endpoints of the survey settings page (owners and admins, 403 for the others): the
satisfaction question sent after a resolution, through `surveys.actions.save_settings`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from comptoir.accounts.models import User
from comptoir.accounts.permissions import can_manage_channels, require
from comptoir.surveys import actions
from comptoir.surveys.models import SurveyKind, SurveySettings

router = Router(tags=["surveys"])


class SurveyErrorOut(Schema):  # its own name: the OpenAPI components share one namespace
    detail: Any


_ERRORS: dict[int, Any] = {403: SurveyErrorOut, 422: dict[str, Any]}


class SurveySettingsIO(Schema):
    enabled: bool
    kind: SurveyKind = Field(description="csat (1 to 5) or nps (0 to 10)")
    delay_hours: int = Field(ge=0, le=720, description="after the resolution")
    min_days_between: int = Field(ge=0, le=3650, description="a buyer is asked at most this often")
    excluded_channel_ids: list[int] = Field(default_factory=list)
    excluded_tags: list[str] = Field(default_factory=list)
    message_marketplaces: list[str] = Field(
        default_factory=list,
        description="marketplaces whose channels may carry it as a message (where their rules "
        "allow it); the shop's own email channels always may",
    )


def _admin(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return require(user, can_manage_channels, "survey settings are for owners and admins")


@router.get("/surveys/settings", response={200: SurveySettingsIO, **_ERRORS})
def get_settings(request: HttpRequest) -> SurveySettings:
    _admin(request)
    return SurveySettings.get()


@router.put(
    "/surveys/settings",
    response={200: SurveySettingsIO, **_ERRORS},
    summary="Turn the survey on or off, and when and how it is sent",
)
def save_settings(request: HttpRequest, body: SurveySettingsIO) -> SurveySettings:
    form = actions.SettingsForm(
        enabled=body.enabled,
        kind=body.kind,
        delay_hours=body.delay_hours,
        min_days_between=body.min_days_between,
        excluded_channel_ids=body.excluded_channel_ids,
        excluded_tags=body.excluded_tags,
        message_marketplaces=body.message_marketplaces,
    )
    return actions.save_settings(actor=_admin(request), form=form)
