"""What the widget's endpoints do, apart from HTTP: find the channel by its shop key, know the
visitor by the signed token, store a message once, and say whether anyone is there."""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import ValidationError

from comptoir.connectors.base import InboundAttachment, InboundMessage, Party, channel_store
from comptoir.connectors.chat.connector import ChatSettings
from comptoir.connectors.chat.models import ChatLine, ChatVisitor
from comptoir.connectors.chat.ports import desk
from comptoir.sla import policies

MAX_TEXT = 4000
SALT = "comptoir.chat.visitor"
# The types a visitor may attach, recognised by their first bytes (not by what they claim).
SIGNATURES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}
_CACHE_SECONDS = 10.0
_channels: dict[str, tuple[float, int, ChatSettings]] = {}


class ChatRefused(Exception):
    """A request the chat turns down, with the HTTP status and the reason shown."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class ChatChannel:
    id: int
    conf: ChatSettings


def find_channel(shop_key: str) -> ChatChannel:
    """The active chat channel with this key (a short per-process cache: every widget request
    names it, and reading it decrypts every chat channel's settings)."""
    found = _channels.get(shop_key)
    if found is None or time.monotonic() - found[0] > _CACHE_SECONDS:
        _channels.clear()
        for channel in channel_store().channels("chat"):
            try:
                conf = ChatSettings.model_validate(channel.get_settings())
            except ValidationError:
                continue
            _channels[conf.shop_key] = (time.monotonic(), int(channel.pk), conf)
        found = _channels.get(shop_key)
    if found is None:
        raise ChatRefused(404, "no live chat has this shop key")
    return ChatChannel(found[1], found[2])


def origin_allowed(chat: ChatChannel, origin: str, own_host: str) -> bool:
    """The page the widget runs on is one of the shop's sites (or this server's own pages)."""
    if not origin:
        return False
    origin = origin.lower().rstrip("/")
    return origin in chat.conf.allowed_origins or origin.partition("://")[2] == own_host.lower()


def token_for(visitor: ChatVisitor) -> str:
    return signing.dumps({"v": visitor.key, "c": visitor.channel_id}, salt=SALT, compress=True)


def visitor_for(chat: ChatChannel, token: str) -> ChatVisitor:
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise ChatRefused(403, "the visitor token is not valid") from None
    if not isinstance(data, dict) or data.get("c") != chat.id:
        raise ChatRefused(403, "the visitor token is for another chat")
    visitor = ChatVisitor.objects.filter(key=str(data.get("v")), channel_id=chat.id).first()
    if visitor is None:
        raise ChatRefused(403, "this visitor is unknown (the conversation was erased)")
    return visitor


def start(chat: ChatChannel, token: str, language: str) -> ChatVisitor:
    """The visitor the token names, or a new one (a first visit, or an erased token)."""
    if token:
        try:
            visitor = visitor_for(chat, token)
        except ChatRefused:
            visitor = None
        if visitor is not None:
            ChatVisitor.objects.filter(pk=visitor.pk).update(
                last_seen_at=timezone.now(), left_at=None
            )
            return visitor
    return ChatVisitor.objects.create(
        channel_id=chat.id, key=secrets.token_hex(16), language=language[:8]
    )


def availability(chat: ChatChannel, now: datetime | None = None) -> dict[str, Any]:
    """Whether an answer comes now, and if not when the shop opens again."""
    now = now or timezone.now()
    open_now = policies.is_business_hours(chat.id, now)
    online = open_now and desk().agents_online(chat.id)
    opens = None if online else policies.next_opening(chat.id, now)
    return {"online": online, "opens_at": opens.isoformat() if opens else ""}


def line_json(line: ChatLine) -> dict[str, Any]:
    return {
        "id": line.pk,
        "client_id": line.client_id if line.direction == "in" else "",
        "from": "visitor" if line.direction == "in" else "agent",
        "author": line.author,
        "text": line.text,
        "attachment": line.attachment_name,
        "at": line.created_at.isoformat(),
    }


def _attachment(chat: ChatChannel, raw: Any) -> InboundAttachment | None:
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise ChatRefused(400, "attachment must be an object")
    kind = str(raw.get("type", ""))
    try:
        data = base64.b64decode(str(raw.get("data", "")), validate=True)
    except ValueError:
        raise ChatRefused(400, "attachment data is not base64") from None
    if len(data) > chat.conf.max_attachment_kb * 1024:
        raise ChatRefused(413, f"attachments are limited to {chat.conf.max_attachment_kb} KB")
    if not data.startswith(SIGNATURES.get(kind, ())) or not data:
        raise ChatRefused(415, "attachments may be PNG, JPEG or GIF images, or PDF files")
    name = str(raw.get("name", "")).replace("/", "_").replace("\\", "_")[:100] or "attachment"
    return InboundAttachment(filename=name, content_type=kind, data=data)


def _profile(visitor: ChatVisitor, body: dict[str, Any], online: bool) -> None:
    """What the pre-chat form (or the offline form) told: kept on the visitor."""
    changed = []
    for field, limit in (("name", 200), ("email", 254), ("order_number", 64)):
        value = str(body.get(field) or "").strip()[:limit]
        if value and value != getattr(visitor, field):
            setattr(visitor, field, value)
            changed.append(field)
    if visitor.email and "@" not in visitor.email:
        raise ChatRefused(400, "the email address is not valid")
    if not online and not visitor.by_email:
        if not visitor.email:
            raise ChatRefused(409, "nobody is here now: leave an email address for the answer")
        visitor.by_email = True
        changed.append("by_email")
    visitor.last_seen_at, visitor.typing_at = timezone.now(), None
    visitor.save(update_fields=[*changed, "last_seen_at", "typing_at"])


def post_message(chat: ChatChannel, visitor: ChatVisitor, body: dict[str, Any]) -> ChatLine:
    """Store the visitor's message once (by the widget's own id) and hand it to the inbox.

    The line and the inbox's message are both keyed by that id: a POST retried after a lost
    answer, or sent twice, changes nothing the second time."""
    client_id = str(body.get("id") or "")
    if not client_id or len(client_id) > 64 or not client_id.replace("-", "").isalnum():
        raise ChatRefused(400, "each message needs its own id (letters, digits, dashes)")
    text = str(body.get("text") or "").strip()
    if len(text) > MAX_TEXT:
        raise ChatRefused(413, f"messages are limited to {MAX_TEXT} characters")
    attachment = _attachment(chat, body.get("attachment"))
    if not text and attachment is None:
        raise ChatRefused(400, "the message is empty")
    known = ChatLine.objects.filter(visitor=visitor, direction="in", client_id=client_id).first()
    if known is None:
        _profile(visitor, body, availability(chat)["online"])
        try:
            with transaction.atomic():
                known = ChatLine.objects.create(
                    visitor=visitor,
                    direction="in",
                    client_id=client_id,
                    text=text,
                    attachment_name=attachment.filename if attachment else "",
                )
        except IntegrityError:  # the same POST twice at once: the other one stored it
            known = ChatLine.objects.get(visitor=visitor, direction="in", client_id=client_id)
    # Handed to the inbox each time: ingest is idempotent on the id, and a first attempt that
    # stored the line but failed before the inbox had it is completed by the retry.
    channel_store().ingest([inbound(chat, visitor, known, attachment)])
    return known


def inbound(
    chat: ChatChannel,
    visitor: ChatVisitor,
    line: ChatLine,
    attachment: InboundAttachment | None = None,
) -> InboundMessage:
    return InboundMessage(
        channel_id=chat.id,
        external_id=f"chat:{visitor.key}:{line.client_id}",
        sender=Party(
            identity_kind="chat_visitor",
            identity_value=visitor.key,
            name=visitor.name,
            email=visitor.email,
        ),
        subject=f"Chat {visitor.name or visitor.key[:6]}",
        text=line.text,
        sent_at=line.created_at,
        thread_id=visitor.key,
        order_number=visitor.order_number,
        language=visitor.language,
        attachments=[attachment] if attachment else [],
        meta={"chat_by_email": visitor.by_email},
    )


def mark(visitor: ChatVisitor, what: str) -> None:
    """The visitor is typing, or left the page."""
    now = timezone.now()
    if what == "typing":
        ChatVisitor.objects.filter(pk=visitor.pk).update(typing_at=now, last_seen_at=now)
    elif what == "left":
        ChatVisitor.objects.filter(pk=visitor.pk).update(left_at=now, typing_at=None)
    else:
        raise ChatRefused(400, "what must be typing or left")
