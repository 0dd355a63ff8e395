"""REST endpoints of the notifications page's webhooks (owners and admins, 403 for the others;
an admin-scope token, as they send the desk's events out): list, add, test, turn on or off,
delete, and the built-in test receiver. A webhook's signing secret is returned once, when it
is created, and never by a GET."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from comptoir.accounts.models import User
from comptoir.accounts.permissions import can_manage_channels, find_visible, require
from comptoir.accounts.tokens import require_admin_scope
from comptoir.notifications import actions
from comptoir.notifications.models import Webhook, WebhookFormat

router = Router(tags=["webhooks"])


class WebhookErrorOut(Schema):  # its own name: the OpenAPI components share one namespace
    detail: Any


_ERRORS: dict[int, Any] = {403: WebhookErrorOut, 404: WebhookErrorOut, 422: dict[str, Any]}


class WebhookIn(Schema):
    name: str = Field("", max_length=100, description="empty: the URL")
    url: str = Field(max_length=500, description="http:// or https://, a public address")
    format: WebhookFormat = WebhookFormat.JSON
    kinds: list[str] = Field(default_factory=list, description="notification kinds; empty: all")
    user_id: int | None = Field(
        None, description="only what this user is notified of (and chose by webhook); null: all"
    )


class WebhookOut(Schema):
    id: int
    name: str
    url: str
    format: str
    kinds: list[str]
    user_id: int | None
    is_active: bool
    signed: bool = Field(description="posts carry a signature made with the secret")
    created_at: datetime
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_status: int | None
    last_error: str

    @staticmethod
    def resolve_signed(obj: Webhook) -> bool:
        return bool(obj.secret_encrypted)


class NewWebhookOut(WebhookOut):
    secret: str = Field(description="the signing secret: shown this once, keep it")

    @staticmethod
    def resolve_secret(obj: Webhook) -> str:
        return obj.secret


class ActiveIn(Schema):
    active: bool


class DeliveryOut(Schema):
    id: int
    kind: str
    state: str


class ReceiverIn(Schema):
    name: str = Field("", max_length=100)
    with_webhook: bool = Field(False, description="add a webhook posting to it")
    format: WebhookFormat = WebhookFormat.JSON


class ReceiverOut(Schema):
    id: int
    name: str
    url: str = Field(description="where it receives (its token is in it)")
    webhook: NewWebhookOut | None
    webhook_error: str = Field("", description="why the webhook to it was refused")


def _admin(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    require(user, can_manage_channels, "webhooks are for owners and admins")
    require_admin_scope(getattr(request, "token_scope", None))
    return user


def _hook(request: HttpRequest, webhook_id: int) -> tuple[User, Webhook]:
    user = _admin(request)  # 403 first, as the page
    return user, find_visible(Webhook.objects.all(), webhook_id)


# Before /webhooks/{webhook_id}: "receivers" is not a webhook's id.
@router.post(
    "/webhooks/receivers",
    response={201: ReceiverOut, **_ERRORS},
    summary="Add a test receiver (it keeps what it is posted), with a webhook to it or not",
)
def create_receiver(request: HttpRequest, body: ReceiverIn) -> Status[dict[str, Any]]:
    user = _admin(request)
    if body.with_webhook:
        made = actions.create_receiver_with_webhook(actor=user, name=body.name, fmt=body.format)
    else:
        made = actions.NewReceiver(actions.create_receiver(actor=user, name=body.name))
    receiver = made.receiver
    return Status(
        201,
        {
            "id": receiver.pk,
            "name": receiver.name,
            "url": actions.receiver_url(receiver),
            "webhook": made.webhook,
            "webhook_error": made.webhook_error,
        },
    )


@router.get("/webhooks", response={200: list[WebhookOut], **_ERRORS}, summary="Webhooks")
def list_webhooks(request: HttpRequest) -> Any:
    _admin(request)
    return Webhook.objects.order_by("name", "pk")


@router.post("/webhooks", response={201: NewWebhookOut, **_ERRORS}, summary="Add a webhook")
def create_webhook(request: HttpRequest, body: WebhookIn) -> Status[Webhook]:
    user = _admin(request)
    owner = None
    if body.user_id is not None:
        owner = find_visible(User.objects.filter(is_active=True), body.user_id)
    hook = actions.create_webhook(
        actor=user,
        name=body.name,
        url=body.url.strip(),
        fmt=body.format,
        kinds=body.kinds,
        user=owner,
    )
    return Status(201, hook)


@router.post(
    "/webhooks/{webhook_id}/test",
    response={202: DeliveryOut, **_ERRORS},
    summary="Send it a test post (queued; its outcome shows in GET /webhooks)",
)
def test_webhook(request: HttpRequest, webhook_id: int) -> Status[Any]:
    user, hook = _hook(request, webhook_id)
    return Status(202, actions.send_test(hook, actor=user))


@router.post(
    "/webhooks/{webhook_id}/active",
    response={200: WebhookOut, **_ERRORS},
    summary="Turn a webhook on or off",
)
def set_active(request: HttpRequest, webhook_id: int, body: ActiveIn) -> Webhook:
    user, hook = _hook(request, webhook_id)
    actions.set_webhook_active(hook, actor=user, active=body.active)
    return hook


@router.delete("/webhooks/{webhook_id}", response={204: None, **_ERRORS}, summary="Delete it")
def delete_webhook(request: HttpRequest, webhook_id: int) -> Status[None]:
    user, hook = _hook(request, webhook_id)
    actions.delete_webhook(hook, actor=user)
    return Status(204, None)
