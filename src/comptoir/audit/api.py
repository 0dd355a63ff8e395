"""`GET /api/v1/audit`: the audit log, for owners' and admins' tokens with the admin scope."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from comptoir.accounts.models import User
from comptoir.accounts.permissions import require
from comptoir.accounts.tokens import require_admin_scope
from comptoir.audit.views import can_read_audit, filtered

router = Router(tags=["audit"])
MAX_LIMIT = 200


class AuditEntryOut(Schema):
    id: int
    created_at: datetime
    actor: str = Field(alias="actor_label")
    ip: str | None
    via: str
    action: str
    object_type: str
    object_id: str
    object_label: str
    changes: dict[str, Any]


class AuditPage(Schema):
    items: list[AuditEntryOut]
    next_before: int | None


class ErrorOut(Schema):
    detail: str


def admin_user(request: HttpRequest) -> User:
    """The caller, if an owner or admin using a token with the admin scope."""
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    require(user, can_read_audit, "the audit log is for owners and admins")
    require_admin_scope(getattr(request, "token_scope", None))
    return user


@router.get(
    "/audit",
    response={200: AuditPage, 403: ErrorOut, 422: ErrorOut},
    summary="The audit log (owners and admins, admin-scope token)",
    description="Newest first. Filters: actor (username), action (a name such as "
    "user.role_changed, or its family: user), from and to (days, inclusive); `before` the "
    "last id of the previous page.",
)
def audit_log(
    request: HttpRequest,
    actor: str = "",
    action: str = "",
    start: str = Query("", alias="from"),
    end: str = Query("", alias="to"),
    before: int | None = None,
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    admin_user(request)
    query = {"actor": actor, "action": action, "from": start, "to": end}
    if before is not None:
        query["before"] = str(before)
    rows = list(filtered(query)[: limit + 1])  # ValidationError: 422
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_before": rows[-1].pk if more else None}
