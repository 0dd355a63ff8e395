"""Writing the audit log: `record(action, actor=..., obj=..., changes=...)`.

Where the request came from (the client's address, web or API) is set once per request by
`AuditContextMiddleware`, so that actions record it without being handed the request; outside
a request (a command, a periodic job) the entry says `cli` or `system`.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from django.db import models
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

if TYPE_CHECKING:
    from comptoir.audit.models import AuditEvent

# Keys whose values are never written, whatever the caller passes: the entry says "changed".
SECRET_KEYS = re.compile(
    r"pass|secret|token|(^|_)key($|_)|apikey|credential|cookie|otp|signature", re.IGNORECASE
)
CHANGED = "(changed)"
MAX_VALUE_CHARS = 200


class Actor(Protocol):
    pk: Any

    def get_username(self) -> str: ...


_context: contextvars.ContextVar[tuple[str | None, str]] = contextvars.ContextVar(
    "audit_context", default=(None, "system")
)


@contextmanager
def request_context(ip: str | None, via: str) -> Iterator[None]:
    """Entries recorded inside say they came from `ip` through `via` (web, api, cli)."""
    token = _context.set((ip, via))
    try:
        yield
    finally:
        _context.reset(token)


def _clean(value: Any, key: str = "") -> Any:
    if key and SECRET_KEYS.search(key):
        return CHANGED
    if isinstance(value, Mapping):
        return {str(k): _clean(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)[:MAX_VALUE_CHARS]


def record(
    action: str,
    *,
    actor: Actor | None,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    label: str = "",
    changes: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one entry. `action` is a dotted name (`user.role_changed`); `obj` (or
    `object_type` and `object_id`) what it was done to; `changes` a small mapping of what
    changed: values under a secret-looking key are replaced by "(changed)", long ones cut.
    Written in the caller's transaction: an undone change leaves no entry."""
    from comptoir.audit.models import AuditEvent

    ip, via = _context.get()
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        label = label or str(obj)
    return AuditEvent.objects.create(
        created_at=timezone.now(),
        actor_id=getattr(actor, "pk", None),
        actor_label=actor.get_username() if actor is not None else via,
        ip=ip,
        via=via,
        action=action[:64],
        object_type=object_type[:64],
        object_id=str(object_id)[:64],
        object_label=label[:200],
        changes=_clean(dict(changes or {})),
    )


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """`{field: [old, new]}` for the fields that changed (secret ones cleaned by `record`)."""
    return {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}


class AuditContextMiddleware:
    """Sets where the request came from (REMOTE_ADDR, already the client's own behind a
    proxy: `web.proxy`) for the entries the request's actions record."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        via = "api" if request.path.startswith("/api/") else "web"
        with request_context(request.META.get("REMOTE_ADDR") or None, via):
            return self.get_response(request)
