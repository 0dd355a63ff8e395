"""REST endpoints for conversations, messages and the generic API channel.

Views stay thin: scope and lookups come from `inbox.permissions`, every change from
`inbox.actions` (which decide who may do it: 404 for what the caller cannot see, 403 for what
they see but may not do, as `accounts.permissions` says), ingestion from `inbox.ingest.receive`.
Lists are keyset-paginated with an opaque cursor.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status as Reply
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from comptoir.accounts.models import User
from comptoir.accounts.permissions import (
    can_manage_channels,
    find_visible,
    require,
    require_write,
)
from comptoir.accounts.tokens import require_admin_scope
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions, files
from comptoir.inbox.ingest import Outcome, receive
from comptoir.inbox.models import Channel, ChannelKind, Conversation, Message, Status
from comptoir.inbox.permissions import (
    can_manage_trash,
    cannot_assign,
    conversation_for,
    trash,
    visible_channels,
    visible_conversations,
)
from comptoir.inbox.queries import (
    MAX_ID,
    MESSAGE_ORDER,
    ORDERS,
    InvalidCursor,
    KeysetOrder,
    filter_conversations,
    page,
)
from comptoir.inbox.schemas import (
    AssignIn,
    ChannelTestOut,
    ConversationOut,
    ConversationPage,
    ErrorOut,
    InboundOut,
    MessageOut,
    MessagePage,
    NoteIn,
    OrderMessageIn,
    ReplyIn,
    ResendIn,
    StatusIn,
    TrashPage,
)
from comptoir.inbox.tasks import channel_test_outcome, test_channel

router = Router(tags=["conversations"])

MAX_LIMIT = 100

# -- helpers -----------------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def _conversations(user: User) -> QuerySet[Conversation]:
    # Every relation the schema reads, fetched up front: the query count never grows with rows.
    return (
        visible_conversations(user)
        .select_related("channel", "customer", "assignee", "order")
        .prefetch_related("tags")
    )


def _conversation(user: User, conv_id: int) -> Conversation:
    return conversation_for(user, conv_id, qs=_conversations(user))


def _writable_conversation(user: User, conv_id: int) -> Conversation:
    return conversation_for(user, conv_id, write=True, qs=_conversations(user))


def _page[M: Any](
    qs: QuerySet[M], order: KeysetOrder, cursor: str | None, limit: int
) -> tuple[list[M], str | None]:
    try:
        return page(qs, order, cursor, limit)
    except InvalidCursor as exc:
        raise HttpError(400, str(exc)) from None


# -- conversations -----------------------------------------------------------------------------


@router.get("/conversations", response={200: ConversationPage, 400: ErrorOut, 422: ErrorOut})
def list_conversations(
    request: HttpRequest,
    status: Status | None = None,
    channel: int | None = Query(None, ge=1, le=MAX_ID),
    assignee: str | None = Query(None, description="A user id, `me` or `none`."),
    needs_reply: bool | None = None,
    tag: str | None = None,
    intent: str | None = Query(None, description="one of the 17 intents, or `none`"),
    urgency: str | None = Query(None, description="low, normal or high"),
    sentiment: str | None = Query(None, description="negative, neutral or positive"),
    language: str | None = None,
    order_number: str | None = None,
    q: str | None = Query(
        None,
        description="Full-text search: words of the messages (accents and case folded), the "
        "buyer's name, an email or alias, an order number (whole or its start).",
    ),
    order: Literal["recent", "respond_by"] = Query(
        "recent", description="`recent`: newest message first; `respond_by`: soonest deadline."
    ),
    cursor: str | None = None,
    limit: int = Query(25, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    user = _user(request)
    qs = filter_conversations(
        _conversations(user),
        user,
        status=status,
        channel=channel,
        assignee=assignee,
        needs_reply=needs_reply,
        tag=tag,
        intent=intent,
        urgency=urgency,
        sentiment=sentiment,
        language=language,
        order_number=order_number,
        q=q,
    )
    items, next_cursor = _page(qs, ORDERS[order], cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/conversations/{conv_id}", response={200: ConversationOut, 404: ErrorOut})
def get_conversation(request: HttpRequest, conv_id: int) -> Conversation:
    return _conversation(_user(request), conv_id)


@router.get(
    "/conversations/{conv_id}/messages",
    response={200: MessagePage, 400: ErrorOut, 404: ErrorOut},
)
def list_messages(
    request: HttpRequest,
    conv_id: int,
    cursor: str | None = None,
    limit: int = Query(MAX_LIMIT, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    conv = _conversation(_user(request), conv_id)
    qs = Message.objects.filter(conversation=conv).prefetch_related("attachments")
    items, next_cursor = _page(qs, MESSAGE_ORDER, cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/messages/{message_id}/source", response={404: ErrorOut})
def message_source(request: HttpRequest, message_id: int) -> HttpResponse:
    """The message exactly as it arrived (an email as .eml), for download."""
    message = find_visible(
        Message.objects.filter(conversation__in=visible_conversations(_user(request))), message_id
    )
    if not message.source_sha256:
        raise HttpError(404, "this message has no original source (it did not come by email)")
    response = HttpResponse(files.read_bytes(message.source_sha256), content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="message-{message.pk}.eml"'
    return response


_WRITE_ERRORS: dict[int, type[Schema]] = {403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


@router.post("/conversations/{conv_id}/reply", response={201: MessageOut, **_WRITE_ERRORS})
def reply(request: HttpRequest, conv_id: int, body: ReplyIn) -> Reply[Message]:
    user = _user(request)
    conv = _writable_conversation(user, conv_id)
    message = actions.reply(
        conv, actor=user, text=body.text, html=body.html, then_status=body.then_status, via="api"
    )
    return Reply(201, message)


def _writable_message(user: User, message_id: int) -> Message:
    visible = Message.objects.filter(conversation__in=visible_conversations(user))
    message = find_visible(visible.select_related("conversation"), message_id)
    require_write(user)
    return message


def _message_out(message_id: int) -> Message:
    return Message.objects.prefetch_related("attachments").get(pk=message_id)


@router.post(
    "/messages/{message_id}/retry",
    response={200: MessageOut, **_WRITE_ERRORS},
    summary="Send a failed reply again, as it is",
    description="Only a reply whose `delivery_state` is `failed` (else 422). It is queued again "
    "under the same id; read its state on the message.",
)
def retry_message(request: HttpRequest, message_id: int) -> Message:
    user = _user(request)
    message = _writable_message(user, message_id)
    actions.retry_delivery(message, actor=user, via="api")
    return _message_out(message.pk)


@router.post(
    "/messages/{message_id}/resend",
    response={201: MessageOut, **_WRITE_ERRORS},
    summary="Send a failed reply again with new text",
    description="The new text leaves as a new reply (returned); the failed one becomes "
    "`replaced` and is never sent, so the buyer gets one answer. Its files go with the new one.",
)
def resend_message(request: HttpRequest, message_id: int, body: ResendIn) -> Reply[Message]:
    user = _user(request)
    message = _writable_message(user, message_id)
    new = actions.resend_edited(message, actor=user, text=body.text, via="api")
    return Reply(201, _message_out(new.pk))


@router.post(
    "/conversations/{conv_id}/order-message",
    response={201: ConversationOut, **_WRITE_ERRORS},
    summary="Message the buyer about this conversation's order",
    description="Starts a new conversation whose first message opens a thread with the buyer "
    "on the order, on the order's channel (marketplaces that allow it: Mirakl). 422 when the "
    "conversation names no order or its marketplace cannot.",
)
def order_message(request: HttpRequest, conv_id: int, body: OrderMessageIn) -> Reply[Conversation]:
    from comptoir.orders.actions import message_buyer_about_order

    user = _user(request)
    conv = _writable_conversation(user, conv_id)
    started = message_buyer_about_order(
        conv, actor=user, text=body.text, subject=body.subject, via="api"
    )
    return Reply(201, _conversation(user, started.pk))


@router.post("/conversations/{conv_id}/note", response={201: MessageOut, **_WRITE_ERRORS})
def note(request: HttpRequest, conv_id: int, body: NoteIn) -> Reply[Message]:
    user = _user(request)
    conv = _writable_conversation(user, conv_id)
    return Reply(201, actions.add_note(conv, actor=user, text=body.text))


@router.post(
    "/conversations/{conv_id}/assign",
    response={200: ConversationOut, **_WRITE_ERRORS},
    description="403 when that user may not be given it (no such user, one who would not see "
    "it, one who reads only: the same answer); 404 for a conversation the caller cannot see.",
)
def assign(request: HttpRequest, conv_id: int, body: AssignIn) -> Conversation:
    user = _user(request)
    conv = _writable_conversation(user, conv_id)
    assignee = None
    if body.assignee_id is not None:
        # Who may be given it is the action's rule; an unknown id gets the same answer (403).
        assignee = User.objects.filter(pk=body.assignee_id).first()
        if assignee is None:
            raise cannot_assign(body.assignee_id)
    actions.assign_conversation(conv, assignee=assignee, actor=user, via="api")
    return _conversation(user, conv_id)


@router.post(
    "/conversations/{conv_id}/no-response-needed",
    response={200: ConversationOut, **_WRITE_ERRORS},
    summary="Mark the buyer's last message as needing no response",
    description="Drops the respond-by deadline; the marketplace is told where its API allows.",
)
def no_response_needed(request: HttpRequest, conv_id: int) -> Conversation:
    user = _user(request)
    conv = _writable_conversation(user, conv_id)
    actions.mark_no_response_needed(conv, actor=user, via="api")
    return _conversation(user, conv_id)


@router.post("/conversations/{conv_id}/status", response={200: ConversationOut, **_WRITE_ERRORS})
def set_status(request: HttpRequest, conv_id: int, body: StatusIn) -> Conversation:
    user = _user(request)
    conv = _writable_conversation(user, conv_id)
    if body.status == Status.SNOOZED:
        if body.snooze_until is None:
            raise ValidationError("snooze_until is required to snooze a conversation")
        actions.snooze_conversation(conv, until=body.snooze_until, actor=user, via="api")
    elif body.snooze_until is not None:
        raise ValidationError("snooze_until goes only with status 'snoozed'")
    else:
        actions.set_status(conv, status=body.status, actor=user, via="api")
    return _conversation(user, conv_id)


# -- deletion and the trash ---------------------------------------------------------------------

_TRASH_ORDER = KeysetOrder("trash", "deleted_at", descending=True)


@router.post(
    "/conversations/{conv_id}/delete",
    response={204: None, **_WRITE_ERRORS},
    summary="Delete a conversation (to the trash)",
    description="Hidden at once; owners and admins restore it from the trash until the purge "
    "(COMPTOIR_DELETED_RETENTION_DAYS after the deletion) removes it with its files.",
)
def delete_conversation(request: HttpRequest, conv_id: int) -> Reply[None]:
    user = _user(request)
    actions.delete_conversation(_writable_conversation(user, conv_id), actor=user)
    return Reply(204, None)


@router.get(
    "/trash",
    response={200: TrashPage, 400: ErrorOut, 403: ErrorOut},
    summary="Deleted conversations (owners and admins)",
)
def list_trash(
    request: HttpRequest, cursor: str | None = None, limit: int = Query(25, ge=1, le=MAX_LIMIT)
) -> dict[str, Any]:
    user = require(_user(request), can_manage_trash, "the trash is for owners and admins")
    require_admin_scope(getattr(request, "token_scope", None))
    qs = trash(user).select_related("channel", "customer")
    items, next_cursor = _page(qs, _TRASH_ORDER, cursor, limit)
    retention = timedelta(days=settings.DELETED_RETENTION_DAYS)
    for conv in items:
        assert conv.deleted_at is not None
        conv.purge_after = conv.deleted_at + retention  # type: ignore[attr-defined]
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/conversations/{conv_id}/restore",
    response={200: ConversationOut, **_WRITE_ERRORS},
    summary="Restore a deleted conversation (owners and admins)",
    description="404 for a conversation not in the caller's trash; 422 when a newer "
    "conversation continues its thread.",
)
def restore_conversation(request: HttpRequest, conv_id: int) -> Conversation:
    user = _user(request)
    if can_manage_trash(user):
        # Whose role may restore needs an admin token too; the others get the action's answer.
        require_admin_scope(getattr(request, "token_scope", None))
    actions.restore_conversation(find_visible(trash(user), conv_id), actor=user)
    return _conversation(user, conv_id)


# -- the generic API channel -------------------------------------------------------------------


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Pydantic's `$defs` refs point at the schema's root, which in OpenAPI is the whole spec."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


_INBOUND_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inline_refs(InboundMessage.model_json_schema())}
        },
    }
}
_CHANNEL_ID = TypeAdapter(int)


def _body_channel_id(raw: bytes) -> int | None:
    """`channel_id` from the body, read with the same coercion as ingest (None if absent)."""
    try:
        data = json.loads(raw)
        return _CHANNEL_ID.validate_python(data["channel_id"]) if isinstance(data, dict) else None
    except (ValueError, KeyError, PydanticValidationError):
        return None  # ingest says what is wrong; nothing can land in another channel


def _inbound_body(request: HttpRequest) -> bytes:
    """The body, read here up to INBOUND_MAX_BYTES rather than through `request.body` (whose
    2.5 MB cap is for forms): a mail with its attachments is bigger. 413 beyond, nothing kept."""
    limit = settings.INBOUND_MAX_BYTES
    too_big = HttpError(413, f"the body is larger than {limit} bytes (COMPTOIR_INBOUND_MAX_BYTES)")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise HttpError(400, "Content-Length is not a number") from None
    if declared > limit:
        raise too_big
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise too_big
    return raw


@router.post(
    "/inbound",
    tags=["inbound"],
    response={
        200: InboundOut,
        201: InboundOut,
        400: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        413: ErrorOut,
        422: InboundOut,
    },
    openapi_extra=_INBOUND_BODY,
    summary="Receive a message on an API channel",
    description=(
        "The body is an InboundMessage as JSON. The raw bytes are kept before anything else, so "
        "an invalid payload is stored as a failed inbound record (its id is in the answer). "
        "201: stored; 200: already received (same channel and external_id); 422: invalid; "
        "413: larger than COMPTOIR_INBOUND_MAX_BYTES (50 MB by default), not kept."
    ),
)
def inbound(
    request: HttpRequest,
    channel_id: int | None = Query(None, description="The API channel; or channel_id in the body."),
) -> Reply[dict[str, Any]]:
    user = _user(request)
    require_write(user)
    raw = _inbound_body(request)
    # A body naming another channel than the query is kept and refused by ingest itself.
    target = channel_id if channel_id is not None else _body_channel_id(raw)
    if target is not None:
        channel = find_visible(visible_channels(user), target)
        if channel.kind != ChannelKind.API:
            raise ValidationError(
                f"channel {channel.pk} is a {channel.kind} channel; only API channels take "
                "messages here"
            )
    # No channel named at all: still keep the raw bytes, the record says what is missing.
    result = receive(raw, source="api", channel_id=target)
    answer = {
        "outcome": str(result.outcome),
        "record_id": result.record_id,
        "message_id": result.message_id,
        "conversation_id": result.conversation_id,
        "detail": result.error,
    }
    status = {Outcome.STORED: 201, Outcome.DUPLICATE: 200, Outcome.FAILED: 422}[result.outcome]
    return Reply(status, answer)


# -- channels ----------------------------------------------------------------------------------


def _manageable_channel(request: HttpRequest, channel_id: int) -> Channel:
    user = _user(request)
    channel = find_visible(visible_channels(user), channel_id)
    require(user, can_manage_channels, "testing a channel is for owners and admins")
    return channel


@router.post(
    "/channels/{channel_id}/test",
    tags=["channels"],
    response={202: ChannelTestOut, 403: ErrorOut, 404: ErrorOut},
    summary="Test a channel's connection",
    description="Queued: read the outcome at GET /channels/{id}/test/{task_id}.",
)
def start_channel_test(request: HttpRequest, channel_id: int) -> Reply[dict[str, Any]]:
    channel = _manageable_channel(request, channel_id)
    result = test_channel.enqueue(channel.pk)
    return Reply(202, {"task_id": str(result.id), "status": str(result.status)})


@router.get(
    "/channels/{channel_id}/test/{task_id}",
    tags=["channels"],
    response={200: ChannelTestOut, 403: ErrorOut, 404: ErrorOut},
)
def channel_test_result(request: HttpRequest, channel_id: int, task_id: str) -> dict[str, Any]:
    channel = _manageable_channel(request, channel_id)
    try:
        return channel_test_outcome(channel.pk, task_id)
    except LookupError as exc:
        raise Http404(str(exc)) from None
