"""The live chat channel's connector: the agents' replies reach the visitor's widget, and by
email when the visitor left an address and is not there to read them (docs/chat.md)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import BaseModel, Field, StringConstraints, field_validator

from comptoir.connectors.base import Connector, ConnectorError, OutboundMessage, SendResult
from comptoir.connectors.chat.models import ChatLine, ChatVisitor
from comptoir.connectors.chat.ports import desk

# A visitor whose widget has not been heard from for this long is not reading: an answer goes
# by email too when they left an address. The widget's stream reconnects every minute.
AWAY_AFTER = timedelta(minutes=3)


class ChatSettings(BaseModel):
    # Public: it is in the page's <script> tag. It only names the channel.
    shop_key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")] = Field(
        default_factory=lambda: secrets.token_urlsafe(12)
    )
    # The sites the widget may run on (https://shop.example): others are refused.
    allowed_origins: list[str] = Field(default_factory=list, max_length=50)
    greeting: Annotated[str, StringConstraints(max_length=300)] = ""
    greeting_fr: Annotated[str, StringConstraints(max_length=300)] = ""
    ask_name: bool = True
    ask_email: bool = False
    ask_order_number: bool = True
    # Answers by email (outside hours, or when the visitor has gone) are sent from this address.
    reply_from: Annotated[str, StringConstraints(max_length=254)] = ""
    # Within what one request may carry (Django's 2.5 MB body limit, base64 adds a third).
    max_attachment_kb: int = Field(default=1024, ge=0, le=1536)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        cleaned = []
        for origin in value:
            origin = origin.strip().rstrip("/").lower()
            scheme, _, host = origin.partition("://")
            if scheme not in ("http", "https") or not host or "/" in host:
                raise ValueError(f"{origin!r} is not an origin like https://shop.example")
            cleaned.append(origin)
        return cleaned


class ChatConnector(Connector):
    kind = "chat"
    settings_model = ChatSettings

    def send(self, outbound: OutboundMessage) -> SendResult:
        visitor = ChatVisitor.objects.filter(
            channel_id=self.channel.pk, key=outbound.conversation_thread_id
        ).first()
        if visitor is None:
            raise ConnectorError("this conversation has no chat visitor to answer", permanent=True)
        key = outbound.idempotency_key[:64]
        try:
            with transaction.atomic():
                line = ChatLine.objects.create(
                    visitor=visitor,
                    direction="out",
                    client_id=key,
                    text=outbound.text,
                    author=desk().author_name(outbound.message_id)[:200],
                    attachment_name=", ".join(a.filename for a in outbound.attachments)[:255],
                )
        except IntegrityError:  # a retried send: the visitor has it already
            line = ChatLine.objects.get(visitor=visitor, direction="out", client_id=key)
            return SendResult(external_id=f"chat-out-{line.pk}", sent_at=line.created_at)
        address = outbound.to or visitor.email
        if address and (visitor.by_email or timezone.now() - visitor.last_seen_at > AWAY_AFTER):
            self._mail(outbound, address)
        return SendResult(external_id=f"chat-out-{line.pk}", sent_at=line.created_at)

    def _mail(self, outbound: OutboundMessage, address: str) -> None:
        conf = self.settings()
        assert isinstance(conf, ChatSettings)
        mail = EmailMessage(
            subject=outbound.subject or outbound.conversation_subject or self.channel.name,
            body=outbound.text,
            from_email=conf.reply_from or settings.DEFAULT_FROM_EMAIL,
            to=[address],
            headers={"Auto-Submitted": "no"},
        )
        for attachment in outbound.attachments:
            mail.attach(attachment.filename, attachment.data, attachment.content_type)
        try:
            mail.send()
        except OSError as exc:
            # The line is in the widget already: the retry finds it and does not mail again,
            # so a mail server that is down loses the email copy, not the answer.
            raise ConnectorError(f"the answer by email could not be sent: {exc}") from exc

    def test_connection(self) -> str:
        conf = self.settings()
        assert isinstance(conf, ChatSettings)
        if not conf.allowed_origins:
            return "ok: no site is allowed yet (add the shop's origin)"
        return f"ok: the widget may run on {', '.join(conf.allowed_origins)}"
