"""Telling people: the one entry point the SLA sweep, the rules and the inbox actions call.

Delivery (email, webhooks, digests, per-user preferences) is this app's business; callers only
say what happened and about what. By family: `dispatch` (`notify`: who is told, by which means),
`payloads` (what a mail or a webhook post says), `preferences` (each user's choices and their
list), `webhooks` (the webhooks and the test receiver).
"""

from __future__ import annotations

from comptoir.notifications.actions.dispatch import (
    flood_limit,
    flood_window,
    mentioned_usernames,
    notify,
    notify_mentions,
)
from comptoir.notifications.actions.payloads import (
    channel_url,
    conversation_url,
    headline,
    sign,
)
from comptoir.notifications.actions.preferences import (
    mark_read,
    preferences_of,
    set_preferences,
    unread_count,
)
from comptoir.notifications.actions.webhooks import (
    NewReceiver,
    create_receiver,
    create_receiver_with_webhook,
    create_webhook,
    delete_webhook,
    receiver_url,
    record_received,
    send_test,
    set_webhook_active,
)
from comptoir.notifications.kinds import Kind

__all__ = [
    "Kind",
    "NewReceiver",
    "channel_url",
    "conversation_url",
    "create_receiver",
    "create_receiver_with_webhook",
    "create_webhook",
    "delete_webhook",
    "flood_limit",
    "flood_window",
    "headline",
    "mark_read",
    "mentioned_usernames",
    "notify",
    "notify_mentions",
    "preferences_of",
    "receiver_url",
    "record_received",
    "send_test",
    "set_preferences",
    "set_webhook_active",
    "sign",
    "unread_count",
]
