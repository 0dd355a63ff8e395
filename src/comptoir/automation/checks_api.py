"""REST endpoints of the pre-send checks page (owners, admins and supervisors, as the page;
403 for the others) and of the composer's "Draft with AI" (any writer, on a conversation they
see; 404 otherwise), through `automation.actions.set_check_level` and `drafting.draft`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Router, Schema

from comptoir.accounts.models import Role, User
from comptoir.accounts.permissions import can_write, find_visible, require
from comptoir.automation import actions, drafting
from comptoir.automation.checks import CHECKS, levels_for
from comptoir.automation.models import CheckLevel, CheckSetting
from comptoir.inbox.permissions import visible_channels, visible_conversations

router = Router()


class ChecksErrorOut(Schema):  # its own name: the OpenAPI components share one namespace
    detail: Any


_ERRORS: dict[int, Any] = {403: ChecksErrorOut, 404: ChecksErrorOut, 422: dict[str, Any]}
MANAGERS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR})


class ChannelLevelOut(Schema):
    channel_id: int
    level: str | None = Field(description="the channel's own setting; null: it follows")
    effective: str = Field(description="what applies on it: block, warn or off")


class CheckOut(Schema):
    check: str
    label: str
    level: str | None = Field(description="the all-channels setting; null: the default")
    channels: list[ChannelLevelOut]


class CheckLevelIn(Schema):
    check: str = Field(description="a check's code, as GET /checks lists them")
    channel_id: int | None = Field(None, description="one channel; null: every channel")
    level: CheckLevel | None = Field(description="block, warn or off; null: back to the default")


def _manager(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    why = "pre-send checks are set by owners, admins and supervisors"
    allowed = user.is_active and (user.is_superuser or user.role in MANAGERS) and can_write(user)
    return require(user, lambda _u: allowed, why)


def _table(user: User) -> list[dict[str, Any]]:
    channels = list(visible_channels(user).order_by("name", "pk"))
    stored = {(s.code, s.channel_id): s.level for s in CheckSetting.objects.all()}
    effective = {c.pk: levels_for(c) for c in channels}
    return [
        {
            "check": spec.code,
            "label": str(spec.label),
            "level": stored.get((spec.code, None)),
            "channels": [
                {
                    "channel_id": c.pk,
                    "level": stored.get((spec.code, c.pk)),
                    "effective": effective[c.pk][spec.code],
                }
                for c in channels
            ],
        }
        for spec in CHECKS
    ]


@router.get(
    "/checks", tags=["checks"], response={200: list[CheckOut], **_ERRORS}, summary="Pre-send checks"
)
def list_checks(request: HttpRequest) -> list[dict[str, Any]]:
    return _table(_manager(request))


@router.put(
    "/checks",
    tags=["checks"],
    response={200: list[CheckOut], **_ERRORS},
    summary="Make checks block, warn or stay off, everywhere or on one channel",
    description="The settings named are changed, the others kept; one refused refuses them all.",
)
def set_levels(request: HttpRequest, body: list[CheckLevelIn]) -> list[dict[str, Any]]:
    user = _manager(request)
    seen = visible_channels(user)
    with transaction.atomic():
        for item in body:
            channel = None if item.channel_id is None else find_visible(seen, item.channel_id)
            actions.set_check_level(item.check, level=item.level, channel=channel)
    return _table(user)


# -- "Draft with AI" --------------------------------------------------------------------------


class CheckResultOut(Schema):
    code: str
    level: str = Field(description="block or warn")
    message: str


class DraftOut(Schema):
    text: str = Field(description="nothing is stored or sent: the caller sends it with /reply")
    checks: list[CheckResultOut]
    blocking: bool = Field(description="a check would refuse it as it stands")


@router.post(
    "/conversations/{conv_id}/draft",
    tags=["conversations"],
    response={200: DraftOut, **_ERRORS},
    summary="An answer drafted by the AI endpoint, with its pre-send checks",
    description="422 while AI drafting is off (PUT /triage/drafting) or when the endpoint fails.",
)
def draft(request: HttpRequest, conv_id: int) -> dict[str, Any]:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    conv = find_visible(
        visible_conversations(user).select_related("shop", "channel", "customer", "order"),
        conv_id,
    )
    require(user, can_write, "read-only users do not answer")
    try:
        made = drafting.draft(conv, user)
    except drafting.DraftingError as exc:
        raise ValidationError(str(exc)) from None
    return {"text": made.text, "checks": made.checks, "blocking": made.blocking}
