"""The desk's side of the live chat: what the chat asks of the desk (who is at it, who is
writing to this visitor, who wrote a reply: `connectors.chat.ports.Desk`), and the line on a
chat conversation's page that says whether the visitor is typing, here or gone."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.connectors.chat.connector import AWAY_AFTER
from comptoir.connectors.chat.models import ChatVisitor
from comptoir.connectors.chat.ports import provide_desk
from comptoir.inbox.models import Channel, Conversation, Message, Presence, PresenceState
from comptoir.inbox.permissions import conversation_for

# An agent counts as at the desk while one of their conversation pages beats (every 20 s),
# with a margin for a page left open while they read another tab.
AT_DESK = timedelta(minutes=10)
# The composer's autosave marks its writer as replying as they type (after a pause of 0.8 s).
WRITING = timedelta(seconds=12)
VISITOR_TYPING = timedelta(seconds=6)  # the widget says it at most every 3 s


class Desk:
    def agents_online(self, channel_id: int) -> bool:
        shop = Channel.objects.filter(pk=channel_id).values_list("shop_id", flat=True).first()
        if shop is None:
            return False
        return Presence.objects.filter(
            conversation__shop_id=shop, seen_at__gte=timezone.now() - AT_DESK
        ).exists()

    def agent_typing(self, channel_id: int, thread_id: str) -> str:
        writer = (
            Presence.objects.filter(
                conversation__channel_id=channel_id,
                conversation__external_thread_id=thread_id,
                state=PresenceState.REPLYING,
                seen_at__gte=timezone.now() - WRITING,
            )
            .select_related("user")
            .first()
        )
        return first_name(writer.user) if writer else ""

    def author_name(self, message_id: int) -> str:
        message = Message.objects.filter(pk=message_id).select_related("author").first()
        return first_name(message.author) if message and message.author else ""


def first_name(user: User) -> str:
    """What the visitor sees of an agent: the first name only."""
    return user.first_name.strip() or user.display_name.split(" ")[0]


def install() -> None:
    provide_desk(Desk())


def visitor_of(conv: Conversation) -> ChatVisitor | None:
    if conv.channel.kind != "chat" or not conv.external_thread_id:
        return None
    return ChatVisitor.objects.filter(
        channel_id=conv.channel_id, key=conv.external_thread_id
    ).first()


@login_required
def chat_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Polled by the conversation page of a chat (every 2 s): the visitor's state."""
    user = request.user
    assert isinstance(user, User)
    conv = conversation_for(user, pk)
    visitor = visitor_of(conv)
    now = timezone.now()
    state = ""
    if visitor is not None:
        if visitor.left_at and visitor.left_at >= visitor.last_seen_at:
            state = "left"
        elif visitor.typing_at and now - visitor.typing_at < VISITOR_TYPING:
            state = "typing"
        elif now - visitor.last_seen_at < AWAY_AFTER:
            state = "here"
        else:
            state = "away"
    return TemplateResponse(
        request, "inbox/_chat_status.html", {"visitor": visitor, "state": state}
    )
