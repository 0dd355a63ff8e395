"""Every change to a conversation goes through one of these functions.

Views, rules, the API and the CLI call the same actions. Each one is atomic, locks the
conversation row, writes an `Event` (the timeline and the audit trail) and queues its side effects
with `transaction.on_commit`, so that nothing is sent for a change that was rolled back. The apps
above the inbox react to what the actions do through `inbox.hooks`, never by being called.

One module per family, as in Zulip's `zerver/actions/`; callers import them from here:
- `sending`: replies and notes, and the pre-send checks other apps register;
- `delivery`: what became of a reply (delivered, failed, bounced, retried, resent);
- `assignment`: the agent, the team and the order of a conversation;
- `status`: tags, status, snooze, priority, language, archive;
- `reading`: intent, urgency and sentiment (triage, a marketplace or an agent);
- `lifecycle`: delete, restore, purge, merge;
- `bulk`: one action on many conversations;
- `channels`: polls, channel health and cursors, shops and channel settings;
- `tags`: the tags themselves (create, rename, delete);
- `agent_state`: saved views, presence, drafts;
- `common`: what they share (locking, events, deadlines).
"""

from __future__ import annotations

from comptoir.inbox.actions.agent_state import (
    PRESENCE_TTL_SECONDS,
    PRESENCE_WRITE_SECONDS,
    SAVED_VIEW_PARAMS,
    delete_view,
    leave_conversation,
    mark_presence,
    presence_is_current,
    save_draft,
    save_view,
)
from comptoir.inbox.actions.assignment import (
    assign_conversation,
    assign_team,
    link_conversations_to_order,
    link_order,
    name_order_buyers,
    unassign_conversation,
)
from comptoir.inbox.actions.bulk import (
    BULK_ACTIONS,
    BulkResult,
    bulk_apply,
)
from comptoir.inbox.actions.channels import (
    FAILING_FOR_BEFORE_ALERT,
    FAILURES_BEFORE_ALERT,
    configure_channel,
    connect_channel_oauth,
    record_channel_error,
    record_channel_success,
    request_channel_poll,
    request_poll,
    retry_inbound,
    save_channel_cursor,
    save_shop,
    update_channel_settings,
)
from comptoir.inbox.actions.common import (
    NewAttachment,
    write_events,
)
from comptoir.inbox.actions.delivery import (
    record_bounce,
    record_delivery,
    record_delivery_failure,
    resend_edited,
    retry_delivery,
)
from comptoir.inbox.actions.lifecycle import (
    delete_conversation,
    merge_conversations,
    purge_deleted,
    restore_conversation,
)
from comptoir.inbox.actions.reading import Reading, apply_readings, set_reading, would_change
from comptoir.inbox.actions.sending import (
    CheckResultLike,
    Draft,
    PreSendChecker,
    ReplyRefused,
    add_note,
    mark_no_response_needed,
    presend_checks,
    register_presend_checker,
    reply,
)
from comptoir.inbox.actions.status import (
    archive_conversation,
    reply_and_snooze,
    set_language,
    set_priority,
    set_status,
    snooze_conversation,
    tag_conversation,
    untag_conversation,
    wake_snoozed,
)
from comptoir.inbox.actions.tags import can_manage_tags, create_tag, delete_tag, rename_tag

__all__ = [
    "BULK_ACTIONS",
    "FAILING_FOR_BEFORE_ALERT",
    "FAILURES_BEFORE_ALERT",
    "PRESENCE_TTL_SECONDS",
    "PRESENCE_WRITE_SECONDS",
    "SAVED_VIEW_PARAMS",
    "BulkResult",
    "CheckResultLike",
    "Draft",
    "NewAttachment",
    "PreSendChecker",
    "Reading",
    "ReplyRefused",
    "add_note",
    "apply_readings",
    "archive_conversation",
    "assign_conversation",
    "assign_team",
    "bulk_apply",
    "can_manage_tags",
    "configure_channel",
    "connect_channel_oauth",
    "create_tag",
    "delete_conversation",
    "delete_tag",
    "delete_view",
    "leave_conversation",
    "link_conversations_to_order",
    "link_order",
    "mark_no_response_needed",
    "mark_presence",
    "merge_conversations",
    "name_order_buyers",
    "presence_is_current",
    "presend_checks",
    "purge_deleted",
    "record_bounce",
    "record_channel_error",
    "record_channel_success",
    "record_delivery",
    "record_delivery_failure",
    "register_presend_checker",
    "rename_tag",
    "reply",
    "reply_and_snooze",
    "request_channel_poll",
    "request_poll",
    "resend_edited",
    "restore_conversation",
    "retry_delivery",
    "retry_inbound",
    "save_channel_cursor",
    "save_draft",
    "save_shop",
    "save_view",
    "set_language",
    "set_priority",
    "set_reading",
    "set_status",
    "snooze_conversation",
    "tag_conversation",
    "unassign_conversation",
    "untag_conversation",
    "update_channel_settings",
    "wake_snoozed",
    "would_change",
    "write_events",
]
