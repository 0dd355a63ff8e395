"""What the inbox's events tell people: subscribed to `inbox.hooks` in NotificationsConfig.ready.

They run inside the transaction of the action that emitted the event: a notification is stored
with the change, or not at all; its mails and webhooks leave after commit (`notify`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from comptoir.notifications.actions import notify, notify_mentions
from comptoir.notifications.kinds import Kind

if TYPE_CHECKING:
    from comptoir.accounts.models import User
    from comptoir.inbox.models import Conversation, Message


def conversation_assigned(conv: Conversation, assignee: User, actor: User | None) -> None:
    # Nobody needs telling that they took a conversation themselves.
    if actor is None or actor.pk != assignee.pk:
        notify(
            Kind.ASSIGNED,
            conversations=[conv.pk],
            users=[assignee.pk],
            actor_id=actor.pk if actor else None,
        )


def note_added(message: Message, actor: User | None) -> None:
    if "@" in message.text:
        notify_mentions(message.conversation_id, message.text, actor_id=actor.pk if actor else None)


def channel_failing(channel_id: int, text: str) -> None:
    # Owners and admins are told (by mail, webhook or digest, as each prefers).
    notify(Kind.CHANNEL_UNHEALTHY, channel_id=channel_id, text=text)
