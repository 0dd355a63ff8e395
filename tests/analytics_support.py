"""A small fixed history for the analytics tests, written row by row (times are exact)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from comptoir.accounts.models import User
from comptoir.inbox.models import (
    Channel,
    Conversation,
    DeliveryState,
    Direction,
    Event,
    EventKind,
    Message,
    Status,
)

# Monday 2 March 2026, 11:00 in Paris: office hours (9:00-18:00) are open.
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)


def conversation(channel: Channel, at: datetime = T0, **fields: object) -> Conversation:
    return Conversation.objects.create(
        shop_id=channel.shop_id, channel=channel, team_id=channel.team_id, created_at=at, **fields
    )


def buyer(conv: Conversation, at: datetime, *, auto: bool = False) -> Message:
    return _message(conv, Direction.IN, at, is_auto=auto)


def reply(
    conv: Conversation,
    at: datetime,
    author: User | None = None,
    *,
    auto: bool = False,
    state: str = DeliveryState.SENT,
) -> Message:
    return _message(conv, Direction.OUT, at, author=author, is_auto=auto, delivery_state=state)


def note(conv: Conversation, at: datetime, author: User) -> Message:
    return _message(conv, Direction.NOTE, at, author=author)


def event(conv: Conversation, kind: str, at: datetime, **data: object) -> Event:
    return Event.objects.create(conversation=conv, kind=kind, created_at=at, data=data)


def resolve(conv: Conversation, at: datetime) -> None:
    event(conv, EventKind.STATUS_CHANGED, at, previous=conv.status, status=Status.RESOLVED)
    conv.status = Status.RESOLVED
    conv.resolved_at = at
    conv.save()


def reopen(conv: Conversation, at: datetime) -> None:
    event(conv, EventKind.REOPENED, at)
    conv.status = Status.OPEN
    conv.reopened_count += 1
    conv.save()


def _message(conv: Conversation, direction: str, at: datetime, **fields: object) -> Message:
    conv.message_count += 1
    conv.save()
    return Message.objects.create(
        conversation=conv,
        channel_id=conv.channel_id,
        direction=direction,
        created_at=at,
        received_at=at,
        **fields,
    )
