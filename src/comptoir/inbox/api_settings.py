"""REST endpoints of the owners' and admins' settings pages for shops, channels and failed
inbound messages: the same actions and the same rules as the pages (403 for another
role, 404 for a channel the caller does not see).

A channel's credentials are write-only: they go in with a create or a change and never come
back (`secrets_set` names those stored). Creating or changing a channel wants an admin-scope
token, as the other endpoints that hand out access do. New users are in `api_people`, beside
the users list (one router per path)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from comptoir.accounts.models import User
from comptoir.accounts.permissions import can_manage_channels, find_visible, require
from comptoir.accounts.tokens import require_admin_scope
from comptoir.connectors.forms import settings_fields, settings_from_json
from comptoir.connectors.registry import CONNECTORS, connector_class
from comptoir.inbox import actions
from comptoir.inbox.api import _user
from comptoir.inbox.ingest import Outcome
from comptoir.inbox.models import Channel, Shop
from comptoir.inbox.permissions import visible_channels
from comptoir.inbox.schemas import ChannelHealthOut, ErrorOut

router = Router()

# 422 is an action's refusal ({"detail": "..."}) or the request's validation errors (a list).
_ERRORS: dict[int, Any] = {403: ErrorOut, 404: ErrorOut, 422: dict[str, Any]}


def _admin(request: HttpRequest) -> User:
    return require(
        _user(request), can_manage_channels, "shops and channels are for owners and admins"
    )


def _admin_token(request: HttpRequest) -> None:
    require_admin_scope(getattr(request, "token_scope", None))


# -- shops --------------------------------------------------------------------------------------


class ShopIn(Schema):
    name: str = Field(max_length=200)
    language: str = Field(description="two letters, e.g. fr")
    country: str = Field(description="two letters, e.g. FR")
    timezone: str = Field(description="an IANA name, e.g. Europe/Paris")


class ShopOut(ShopIn):
    id: int
    slug: str
    created_at: datetime


@router.get("/shops", tags=["shops"], response={200: list[ShopOut], **_ERRORS}, summary="Shops")
def list_shops(request: HttpRequest) -> Any:
    _admin(request)
    return Shop.objects.order_by("name", "pk")


@router.post("/shops", tags=["shops"], response={201: ShopOut, **_ERRORS}, summary="Add a shop")
def create_shop(request: HttpRequest, body: ShopIn) -> Status[Shop]:
    shop = actions.save_shop(
        None,
        actor=_admin(request),
        name=body.name,
        language=body.language,
        country=body.country,
        timezone_name=body.timezone,
    )
    return Status(201, shop)


@router.put(
    "/shops/{shop_id}", tags=["shops"], response={200: ShopOut, **_ERRORS}, summary="Change a shop"
)
def update_shop(request: HttpRequest, shop_id: int, body: ShopIn) -> Shop:
    user = _admin(request)
    return actions.save_shop(
        find_visible(Shop.objects.all(), shop_id),
        actor=user,
        name=body.name,
        language=body.language,
        country=body.country,
        timezone_name=body.timezone,
    )


# -- channels -----------------------------------------------------------------------------------


class ChannelChangeIn(Schema):
    shop_id: int
    marketplace: str = Field(description="amazon, cdiscount, fnac, ebay, own...")
    name: str = Field(max_length=200)
    team_id: int | None = Field(None, description="the team that answers it; null: none")
    is_active: bool = True
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="the connector's settings (GET /channels/kinds lists them); the keys given "
        "are changed, the others kept; a secret left out or empty keeps the stored one",
    )


class ChannelIn(ChannelChangeIn):
    kind: str = Field(description="email, amazon, mirakl, api... (GET /channels/kinds)")


class ChannelConfigOut(Schema):
    id: int
    kind: str
    shop_id: int
    marketplace: str
    name: str
    team_id: int | None
    is_active: bool
    settings: dict[str, Any] = Field(description="its settings, without the secrets")
    secrets_set: list[str] = Field(description="the secret settings stored (never their values)")


class SettingFieldOut(Schema):
    name: str
    label: str
    widget: str = Field(description="text, password (a secret, write-only), number, checkbox...")
    required: bool
    choices: list[str]


class ChannelKindOut(Schema):
    kind: str
    settings: list[SettingFieldOut]


def _config_out(channel: Channel) -> dict[str, Any]:
    model = connector_class(channel.kind).settings_model
    stored = channel.get_settings()
    secret = {f.name for f in settings_fields(model) if f.secret} if model else set()
    return {
        **{f: getattr(channel, f) for f in ("id", "kind", "shop_id", "marketplace", "name")},
        "team_id": channel.team_id,
        "is_active": channel.is_active,
        "settings": {k: v for k, v in stored.items() if k not in secret},
        "secrets_set": sorted(k for k in secret if stored.get(k)),
    }


def _configure(channel: Channel | None, user: User, kind: str, body: ChannelChangeIn) -> Channel:
    if kind not in CONNECTORS:
        raise ValidationError(f"no connector for channels of kind {kind!r}")
    model = connector_class(kind).settings_model
    stored = channel.get_settings() if channel else {}
    return actions.configure_channel(
        channel,
        actor=user,
        shop_id=body.shop_id,
        kind=kind,
        marketplace=body.marketplace,
        name=body.name,
        team_id=body.team_id,
        is_active=body.is_active,
        settings=settings_from_json(model, body.settings, stored) if model else stored,
    )


# GET and POST /channels in one router: a path's methods are one URL pattern, and the first
# router to declare the path would answer 405 for the other's.
@router.get("/channels", tags=["channels"], response=list[ChannelHealthOut])
def list_channels(request: HttpRequest) -> Any:
    """The channels the user may see, with their health (a stopped one says why)."""
    return visible_channels(_user(request)).order_by("name", "id")


@router.get(
    "/channels/kinds",
    tags=["channels"],
    response={200: list[ChannelKindOut], **_ERRORS},
    summary="The kinds of channel and the settings each takes",
)
def channel_kinds(request: HttpRequest) -> list[dict[str, Any]]:
    _admin(request)
    found = []
    for kind in CONNECTORS:
        model = connector_class(kind).settings_model
        fields = settings_fields(model) if model else []
        found.append(
            {"kind": kind, "settings": [{**vars(f), "choices": list(f.choices)} for f in fields]}
        )
    return found


@router.get(
    "/channels/{channel_id}",
    tags=["channels"],
    response={200: ChannelConfigOut, **_ERRORS},
    summary="A channel's configuration (secrets never shown)",
)
def get_channel(request: HttpRequest, channel_id: int) -> dict[str, Any]:
    user = _user(request)
    channel = find_visible(visible_channels(user), channel_id)
    _admin(request)
    return _config_out(channel)


@router.post(
    "/channels",
    tags=["channels"],
    response={201: ChannelConfigOut, **_ERRORS},
    summary="Add a channel (admin-scope token)",
)
def create_channel(request: HttpRequest, body: ChannelIn) -> Status[dict[str, Any]]:
    user = _admin(request)
    _admin_token(request)
    return Status(201, _config_out(_configure(None, user, body.kind, body)))


@router.put(
    "/channels/{channel_id}",
    tags=["channels"],
    response={200: ChannelConfigOut, **_ERRORS},
    summary="Change a channel (admin-scope token)",
    description="Its kind cannot change. New settings give a stopped channel another go.",
)
def update_channel(request: HttpRequest, channel_id: int, body: ChannelChangeIn) -> dict[str, Any]:
    user = _user(request)
    channel = find_visible(visible_channels(user), channel_id)  # 404 before 403, as the page
    _admin(request)
    _admin_token(request)
    return _config_out(_configure(channel, user, channel.kind, body))


# -- failed inbound messages --------------------------------------------------------------------


class InboundRetryIn(Schema):
    record_id: int | None = Field(
        None, ge=1, description="one failed record, processed now; null: every one, in a worker"
    )


class InboundRetryOut(Schema):
    outcome: str = Field(
        description="stored, duplicate, failed (again), gone (no longer failed) or queued (all)"
    )
    conversation_id: int | None = None
    message_id: int | None = None
    detail: str = ""


@router.post(
    "/inbound/retry",
    tags=["inbound"],
    response={200: InboundRetryOut, 202: InboundRetryOut, **_ERRORS},
    summary="Process failed inbound messages again",
)
def retry_inbound(request: HttpRequest, body: InboundRetryIn) -> Any:
    user = _admin(request)
    if body.record_id is None:
        actions.retry_inbound(None, actor=user)
        return Status(202, {"outcome": "queued"})
    result = actions.retry_inbound(body.record_id, actor=user)
    if result is None:  # another retry took it meanwhile
        return {"outcome": "gone"}
    return {
        "outcome": str(result.outcome),
        "conversation_id": result.conversation_id,
        "message_id": result.message_id,
        "detail": result.error if result.outcome == Outcome.FAILED else "",
    }
