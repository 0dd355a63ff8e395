"""The desk's side of the live chat: what the chat asks of the desk (who is at it, who is
writing to this visitor, who wrote a reply: `connectors.chat.ports.Desk`), and the line on a
chat conversation's page that says whether the visitor is typing, here or gone: told by the
page's live stream (`inbox.live`, `visitor_teller`) as it changes, the page's own request
(`chat_status`) only when it opens and, slowly, while the stream is down."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from comptoir.accounts.availability import SEEN_RECENTLY
from comptoir.accounts.models import Role, User
from comptoir.accounts.permissions import SEE_ALL_ROLES
from comptoir.connectors.chat.connector import AWAY_AFTER
from comptoir.connectors.chat.models import ChatVisitor
from comptoir.connectors.chat.ports import provide_desk
from comptoir.inbox import live
from comptoir.inbox.models import Channel, Conversation, Message, Presence, PresenceState
from comptoir.inbox.permissions import conversation_for

# An agent also counts as at the desk while one of their conversation pages beats (every 20 s),
# with a margin for a page left open while they read another tab.
AT_DESK = timedelta(minutes=10)
# The composer's autosave marks its writer as replying as they type (after a pause of 0.8 s).
WRITING = timedelta(seconds=12)
VISITOR_TYPING = timedelta(seconds=6)  # the widget says it at most every 3 s


class Desk:
    def agents_online(self, channel_id: int) -> bool:
        """An available agent who may answer this channel, at the desk now: seen by their live
        stream lately, or with one of the shop's conversations open (pages without a stream).
        Away agents never count."""
        channel = Channel.objects.filter(pk=channel_id).values("shop_id", "team_id").first()
        if channel is None:
            return False
        now = timezone.now()
        may_answer = Q(is_superuser=True) | Q(role__in=SEE_ALL_ROLES)
        if channel["team_id"] is not None:
            may_answer |= Q(teams=channel["team_id"])
        at_desk = Presence.objects.filter(
            conversation__shop_id=channel["shop_id"], seen_at__gte=now - AT_DESK
        ).values("user_id")
        seen = Q(seen_at__gte=now - SEEN_RECENTLY) | Q(pk__in=at_desk)
        return (
            User.objects.filter(is_active=True, available=True)
            .exclude(role=Role.ANALYST)
            .filter(may_answer)
            .filter(seen)
            .exists()
        )

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
    live.provide_teller("visitor", visitor_teller)


def state_of(visitor: ChatVisitor, now: datetime) -> str:
    """typing, here, away or left."""
    if visitor.left_at and visitor.left_at >= visitor.last_seen_at:
        return "left"
    if visitor.typing_at and now - visitor.typing_at < VISITOR_TYPING:
        return "typing"
    return "here" if now - visitor.last_seen_at < AWAY_AFTER else "away"


def chat_of(conversation_id: int) -> tuple[int, str] | None:
    """(the chat channel, the visitor's key) of a chat conversation, else None."""
    row = (
        Conversation.objects.filter(pk=conversation_id, channel__kind="chat")
        .exclude(external_thread_id="")
        .values_list("channel_id", "external_thread_id")
        .first()
    )
    return (row[0], row[1]) if row else None


def visitor_state(chat: tuple[int, str], zone: str) -> dict[str, Any] | None:
    """What the live stream tells a chat conversation's page: the visitor's state, when they
    left (in the agent's time zone) and the address answers also go to."""
    visitor = ChatVisitor.objects.filter(channel_id=chat[0], key=chat[1]).first()
    if visitor is None:
        return None
    state = state_of(visitor, timezone.now())
    left_at = ""
    if state == "left" and visitor.left_at:
        try:
            left_at = visitor.left_at.astimezone(ZoneInfo(zone)).strftime("%H:%M")
        except (KeyError, ValueError):
            left_at = timezone.localtime(visitor.left_at).strftime("%H:%M")
    return {"state": state, "left_at": left_at, "email": visitor.email if visitor.by_email else ""}


def visitor_teller(conversation_id: int, user: User) -> Callable[[], dict[str, Any] | None] | None:
    """For the live stream of a chat conversation's page: what reads its visitor's state."""
    chat = chat_of(conversation_id)
    if chat is None:
        return None
    return lambda: visitor_state(chat, user.timezone)


def visitor_of(conv: Conversation) -> ChatVisitor | None:
    if conv.channel.kind != "chat" or not conv.external_thread_id:
        return None
    return ChatVisitor.objects.filter(
        channel_id=conv.channel_id, key=conv.external_thread_id
    ).first()


@login_required
def chat_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The visitor's state as the conversation page opens (and, every 20 s, while its live
    stream is down: the stream tells each change within a second otherwise)."""
    user = request.user
    assert isinstance(user, User)
    conv = conversation_for(user, pk)
    visitor = visitor_of(conv)
    state = state_of(visitor, timezone.now()) if visitor is not None else ""
    return TemplateResponse(
        request, "inbox/_chat_status.html", {"visitor": visitor, "state": state}
    )
