"""The transcript mailed to the visitor who asks for it, at most once every few minutes (the
address is the visitor's own: given in the form, or now, and kept)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from comptoir.connectors.chat.models import ChatLine, ChatVisitor
from comptoir.connectors.chat.service import ChatChannel, ChatRefused

EVERY = timedelta(minutes=5)


def render(visitor: ChatVisitor) -> str:
    out = []
    for line in ChatLine.objects.filter(visitor=visitor).order_by("pk"):
        who = (line.author or _("Agent")) if line.direction == "out" else _("You")
        at = timezone.localtime(line.created_at).strftime("%Y-%m-%d %H:%M")
        attached = f" [{line.attachment_name}]" if line.attachment_name else ""
        out.append(f"{at} {who}: {line.text}{attached}")
    return "\n".join(out)


def mail_transcript(chat: ChatChannel, visitor: ChatVisitor, email: str) -> None:
    email = email.strip()[:254] or visitor.email
    if "@" not in email:
        raise ChatRefused(400, "the email address is not valid")
    now = timezone.now()
    if visitor.transcript_sent_at and now - visitor.transcript_sent_at < EVERY:
        raise ChatRefused(429, "the transcript was sent a moment ago")
    if visitor.email and email != visitor.email:
        raise ChatRefused(403, "the transcript goes to the address given in this chat")
    with translation.override("fr" if visitor.language.startswith("fr") else "en"):
        body = render(visitor)
        subject = _("Your chat transcript")
    EmailMessage(
        subject=subject,
        body=body,
        from_email=chat.conf.reply_from or settings.DEFAULT_FROM_EMAIL,
        to=[email],
    ).send()
    ChatVisitor.objects.filter(pk=visitor.pk).update(email=email, transcript_sent_at=now)
