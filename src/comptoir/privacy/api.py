"""`/api/v1/privacy/...`: a buyer's access and erasure requests over the API (owners and
admins, with an admin-scope token)."""

from __future__ import annotations

from typing import Annotated, Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from pydantic import Field

from comptoir.accounts.models import User
from comptoir.accounts.permissions import find_visible, require
from comptoir.accounts.tokens import require_admin_scope
from comptoir.inbox.models import Channel, Shop
from comptoir.privacy import access, actions
from comptoir.privacy.models import RetentionMode

router = Router(tags=["privacy"])


class ErrorOut(Schema):
    detail: str


class BuyerOut(Schema):
    id: int
    name: str
    email: str
    conversation_count: int


# A row id: the database's 64-bit integer (a larger one would fail in the database, not here).
BuyerId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class BuyersIn(Schema):
    customer_ids: list[BuyerId] = Field(min_length=1, max_length=1000)


class EraseIn(BuyersIn):
    confirm: str


class ErasedOut(Schema):
    customers: int
    conversations: int
    messages: int
    files: int


def _admin(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    require(user, actions.can_handle_requests, "data-protection requests are for owners and admins")
    require_admin_scope(getattr(request, "token_scope", None))
    return user


@router.get(
    "/privacy/buyers",
    response={200: list[BuyerOut], 403: ErrorOut},
    summary="Find a buyer by email, alias, name, order number or customer number",
)
def find_buyers(request: HttpRequest, q: str) -> list[Any]:
    _admin(request)
    return access.find_customers(q)


@router.post(
    "/privacy/export",
    response={200: None, 403: ErrorOut, 422: ErrorOut},
    summary="Everything held about buyers, as a ZIP (data.json and the attachments)",
)
def export(request: HttpRequest, body: BuyersIn) -> HttpResponse:
    user = _admin(request)
    data = actions.export_subject(body.customer_ids, actor=user)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = (
        f'attachment; filename="{access.filename(sorted(body.customer_ids))}"'
    )
    return response


@router.post(
    "/privacy/erase",
    response={200: ErasedOut, 403: ErrorOut, 422: ErrorOut},
    summary='Erase buyers everywhere (irreversible): confirm repeats their ids, e.g. "12"',
)
def erase(request: HttpRequest, body: EraseIn) -> Any:
    user = _admin(request)
    return actions.erase_subject(body.customer_ids, actor=user, confirm=body.confirm)


# -- retention, as on the page: a shop's, and a channel's own (or back to its default) ---------


class RetentionIn(Schema):
    days: int = Field(ge=0, le=36500, description="0 keeps for ever")
    mode: RetentionMode = Field(description="what happens past the days")


class ChannelRetentionIn(Schema):
    days: int | None = Field(
        ge=0, le=36500, description="0 keeps for ever; null follows the marketplace's or shop's"
    )
    mode: RetentionMode = RetentionMode.ANONYMISE


class RetentionOut(Schema):
    days: int | None
    mode: str | None


@router.put(
    "/privacy/retention/shops/{shop_id}",
    response={200: RetentionOut, 403: ErrorOut, 404: ErrorOut, 422: dict[str, Any]},
    summary="How long a shop's conversations are kept",
)
def shop_retention(request: HttpRequest, shop_id: int, body: RetentionIn) -> Any:
    user = _admin(request)
    shop = find_visible(Shop.objects.all(), shop_id)
    return actions.save_retention(shop, actor=user, days=body.days, mode=body.mode)


@router.put(
    "/privacy/retention/channels/{channel_id}",
    response={200: RetentionOut, 403: ErrorOut, 404: ErrorOut, 422: dict[str, Any]},
    summary="A channel's own retention, or (days null) back to its default",
)
def channel_retention(request: HttpRequest, channel_id: int, body: ChannelRetentionIn) -> Any:
    user = _admin(request)
    channel = find_visible(Channel.objects.all(), channel_id)
    own = actions.save_channel_retention(channel, actor=user, days=body.days, mode=body.mode)
    return own or {"days": None, "mode": None}
