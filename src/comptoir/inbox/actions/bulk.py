"""One action applied to many conversations at once (the inbox's bulk bar)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError

from comptoir.inbox.actions.assignment import (
    assign_conversation,
    assign_team,
    unassign_conversation,
)
from comptoir.inbox.actions.common import _check_actor
from comptoir.inbox.actions.lifecycle import delete_conversation
from comptoir.inbox.actions.sending import mark_no_response_needed
from comptoir.inbox.actions.status import (
    archive_conversation,
    set_priority,
    set_status,
    snooze_conversation,
    tag_conversation,
    untag_conversation,
)
from comptoir.inbox.models import (
    Conversation,
)

if TYPE_CHECKING:
    from comptoir.accounts.models import User


# -- bulk --------------------------------------------------------------------------------------

BULK_ACTIONS: dict[str, Callable[..., Any]] = {
    "assign": assign_conversation,
    "unassign": unassign_conversation,
    "assign_team": assign_team,
    "tag": tag_conversation,
    "untag": untag_conversation,
    "set_status": set_status,
    "snooze": snooze_conversation,
    "set_priority": set_priority,
    "archive": archive_conversation,
    "delete": delete_conversation,
    "no_response_needed": mark_no_response_needed,
}


@dataclass
class BulkResult:
    done: list[int]
    failed: dict[int, str]


def bulk_apply(
    action: str, conversations: Iterable[Conversation], *, actor: User | None, **kwargs: Any
) -> BulkResult:
    """Apply one action to many conversations; each succeeds or fails on its own."""
    try:
        func = BULK_ACTIONS[action]
    except KeyError:
        raise ValidationError(f"unknown bulk action {action!r}") from None
    _check_actor(actor)
    result = BulkResult(done=[], failed={})
    for conv in conversations:
        try:
            func(conv, actor=actor, **kwargs)
        except (ValidationError, PermissionDenied) as exc:
            result.failed[conv.pk] = "; ".join(getattr(exc, "messages", [str(exc)]))
        except ObjectDoesNotExist:
            result.failed[conv.pk] = f"conversation {conv.pk} no longer exists"
        else:
            result.done.append(conv.pk)
    return result
