"""The API's request and response shapes for conversations, messages and channels (django-ninja
schemas; the OpenAPI document is generated from them)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import AwareDatetime

from comptoir.inbox.models import Conversation, Message, Status
from comptoir.lib.html import has_remote_images


class ChannelOut(Schema):
    id: int
    name: str
    kind: str
    marketplace: str


class ChannelHealthOut(ChannelOut):
    shop_id: int
    team_id: int | None
    is_active: bool
    is_healthy: bool = Field(description="false: stopped on a permanent error, needs an admin")
    health: str = Field(
        description="working; failing: cannot be read for a while, polls go on; stopped"
    )
    last_error: str
    last_error_at: datetime | None
    last_sync_at: datetime | None


class ChannelTestOut(Schema):
    task_id: str
    status: str = Field(description="READY, RUNNING, SUCCESSFUL or FAILED")
    ok: bool | None = Field(None, description="once finished: whether the connection works")
    message: str = Field("", description="once finished: the connector's own words")


class UserOut(Schema):
    id: int
    username: str
    display_name: str


class CustomerOut(Schema):
    id: int
    name: str
    email: str


class OrderOut(Schema):
    id: int
    external_id: str
    status: str
    currency: str
    total: Decimal | None
    items: list[dict[str, Any]]
    ordered_at: datetime | None
    ship_by: datetime | None
    shipped_at: datetime | None
    expected_delivery_at: datetime | None
    delivered_at: datetime | None
    carrier: str
    tracking_number: str
    tracking_url: str


class ConversationOut(Schema):
    id: int
    shop_id: int
    channel: ChannelOut
    customer: CustomerOut | None
    assignee: UserOut | None
    team_id: int | None
    subject: str
    snippet: str
    status: str
    priority: int
    tags: list[str]
    order_number: str
    order: OrderOut | None = Field(description="the order the buyer wrote about, when known")
    language: str
    intent: str = Field(
        description="what the buyer writes about (one of 17 labels, see "
        "/docs triage), or '' when unknown or unsure"
    )
    intent_source: str = Field(description="who gave the intent: marketplace, triage or agent")
    urgency: str = Field(description="low, normal or high ('' before triage read a message)")
    sentiment: str = Field(description="negative, neutral or positive ('' before triage)")
    needs_reply: bool
    respond_by: datetime | None
    sla_state: str = Field(description="none, ok, at_risk or breached (see /sla/)")
    sla_at_risk_at: datetime | None
    snoozed_until: datetime | None
    first_inbound_at: datetime | None
    last_inbound_at: datetime | None
    last_outbound_at: datetime | None
    last_message_at: datetime | None
    resolved_at: datetime | None
    message_count: int
    archived: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_tags(obj: Conversation) -> list[str]:
        # .all() reads the prefetch cache; a filter or order_by here would query once per row.
        return sorted(t.name for t in obj.tags.all())


class ConversationPage(Schema):
    items: list[ConversationOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class TrashedOut(Schema):
    """A deleted conversation in the trash: restorable until `purge_after`."""

    id: int
    subject: str
    channel: ChannelOut
    customer: CustomerOut | None
    deleted_at: datetime
    purge_after: datetime = Field(
        description="from then on the purge removes it for good, with its files"
    )


class TrashPage(Schema):
    items: list[TrashedOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class AttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int
    inline: bool
    dropped_reason: str


class MessageOut(Schema):
    id: int
    conversation_id: int
    direction: str
    author_id: int | None
    author_name: str
    subject: str
    text: str
    new_text: str = Field(description="the new part of `text` (quoted history cut off), or ''")
    html: str
    has_source: bool = Field(description="the original is at /messages/{id}/source")
    has_remote_images: bool = Field(
        description="`html` has remote images, disarmed (in data-remote-src) until allowed"
    )
    is_auto: bool
    language: str = Field(description="triage's reading: a code, 'unknown', or '' (not read)")
    intent: str = Field(description="triage's reading (or the marketplace's, or an agent's)")
    intent_confidence: float | None
    intent_source: str
    urgency: str
    sentiment: str
    entities: list[dict[str, str]] = Field(
        description="what the message names: kind (order, parcel, amount, date, ean, sku), "
        "value, source (the marketplace, the carrier or the currency)"
    )
    marketplace_reason: str = Field(description="the marketplace's own reason code, if any")
    sent_at: datetime | None
    created_at: datetime
    delivery_state: str = Field(
        description="a reply's: queued, sending, sent, failed (POST /messages/{id}/retry or "
        "/resend), or replaced (edited and sent again as a new message, never sent itself)"
    )
    delivery_error: str
    attachments: list[AttachmentOut]

    @staticmethod
    def resolve_attachments(obj: Message) -> list[Any]:
        return list(obj.attachments.all())

    @staticmethod
    def resolve_has_source(obj: Message) -> bool:
        return bool(obj.source_sha256)

    @staticmethod
    def resolve_has_remote_images(obj: Message) -> bool:
        return has_remote_images(obj.html)


class MessagePage(Schema):
    items: list[MessageOut]
    next_cursor: str | None = None


class ReplyIn(Schema):
    text: str
    html: str = ""
    # Snoozing needs a date: use the status endpoint for it.
    then_status: Literal["open", "pending", "resolved"] | None = None


class ResendIn(Schema):
    text: str = Field(description="the reply's new text")


class NoteIn(Schema):
    text: str


class OrderMessageIn(Schema):
    text: str
    subject: str = Field("", description="the new thread's topic; default: the order number")


class AssignIn(Schema):
    assignee_id: int | None = Field(..., description="A user id, or null to unassign.")


class StatusIn(Schema):
    status: Status
    snooze_until: AwareDatetime | None = Field(None, description="Required with `snoozed`.")


class InboundOut(Schema):
    outcome: str
    record_id: int
    message_id: int | None = None
    conversation_id: int | None = None
    detail: str = ""


class ErrorOut(Schema):
    detail: Any
